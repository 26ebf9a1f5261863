//! Server messages in the visitor's language: hub-core's errors carry a
//! stable code and named values ([`hub_core::error::Message`]); a page words
//! them here, by code, as `err.{code}` with `{name}` filled. The APIs keep
//! hub-core's English text. A unit test checks that every code hub-core
//! uses has its entry. (key, zh-CN, en)

pub(super) const MESSAGES: &[(&str, &str, &str)] = &[
    // Kinds of error that carry no message of their own.
    ("err.unauthenticated", "请先登录。", "Please sign in first."),
    (
        "err.invalid_credentials",
        "登录凭据无效或已失效。",
        "The credentials are invalid or have expired.",
    ),
    (
        "err.revision_not_found",
        "找不到版本“{rev}”。",
        "There is no revision “{rev}”.",
    ),
    (
        "err.entry_not_found",
        "找不到文件“{path}”。",
        "There is no file “{path}”.",
    ),
    (
        "err.too_many_requests",
        "请求过于频繁，请稍后再试。",
        "Too many requests; try again later.",
    ),
    (
        "err.internal",
        "服务器内部出错，请稍后再试。",
        "Internal error; try again later.",
    ),
    // Names of users, organisations and repos (hub-core/src/names.rs).
    (
        "err.name.length",
        "名称须为 1 到 42 个字符。",
        "A name must have between 1 and 42 characters.",
    ),
    (
        "err.name.characters",
        "名称只能包含字母、数字和“-”。",
        "A name may contain only letters, digits and “-”.",
    ),
    (
        "err.name.dashes",
        "名称不能以“-”开头或结尾，也不能包含“--”。",
        "A name may not start or end with “-” nor contain “--”.",
    ),
    (
        "err.name.reserved",
        "“{name}”是保留名称，不能使用。",
        "The name “{name}” is reserved.",
    ),
    (
        "err.name.taken",
        "名称“{name}”已被占用。",
        "The name “{name}” is already taken.",
    ),
    (
        "err.repo_name.length",
        "仓库名称须为 1 到 {max} 个字符。",
        "A repository name must have between 1 and {max} characters.",
    ),
    (
        "err.repo_name.characters",
        "仓库名称只能包含字母、数字、“.”、“_”和“-”。",
        "A repository name may contain only letters, digits, “.”, “_” and “-”.",
    ),
    (
        "err.repo_name.doubles",
        "仓库名称不能包含“--”或“..”。",
        "A repository name may not contain “--” or “..”.",
    ),
    (
        "err.repo_name.ends",
        "仓库名称不能以“-”或“.”开头或结尾。",
        "A repository name may not start or end with “-” or “.”.",
    ),
    (
        "err.repo_name.git_suffix",
        "仓库名称不能以“.git”结尾。",
        "A repository name may not end with “.git”.",
    ),
    // Accounts.
    (
        "err.email.unavailable",
        "此邮箱不能用于注册新账号；如果它是你的，请直接登录。",
        "This email address cannot be used for a new account; if it is yours, sign in.",
    ),
    (
        "err.email.invalid",
        "请填写有效的邮箱地址。",
        "A valid email address is needed.",
    ),
    (
        "err.full_name.length",
        "全名最多 {max} 个字符。",
        "A full name has at most {max} characters.",
    ),
    (
        "err.full_name.characters",
        "全名不能包含控制字符。",
        "A full name cannot contain control characters.",
    ),
    (
        "err.password.wrong",
        "当前密码不正确。",
        "The current password is wrong.",
    ),
    (
        "err.password.short",
        "密码至少需要 {min} 个字符。",
        "A password needs at least {min} characters.",
    ),
    (
        "err.password.long",
        "密码太长。",
        "The password is too long.",
    ),
    // Organisations.
    (
        "err.org.unknown_role",
        "未知角色“{role}”，可选：只读、读写、管理员。",
        "Unknown role “{role}”: choose read, write or admin.",
    ),
    (
        "err.org.not_found",
        "找不到组织“{org}”。",
        "There is no organisation “{org}”.",
    ),
    (
        "err.org.admins_only",
        "只有组织管理员可以管理成员。",
        "Only an organisation admin can manage its members.",
    ),
    (
        "err.user.not_found",
        "找不到用户“{user}”。",
        "There is no user “{user}”.",
    ),
    (
        "err.org.not_a_member",
        "“{user}”不是组织“{org}”的成员。",
        "“{user}” is not a member of “{org}”.",
    ),
    (
        "err.org.last_admin",
        "组织至少要保留一位管理员。",
        "An organisation must keep at least one admin.",
    ),
    // Repos.
    (
        "err.repo.exists",
        "仓库 {namespace}/{name} 已经存在。",
        "A repository called {namespace}/{name} already exists.",
    ),
    (
        "err.mirror.read_only",
        "这个仓库是 {upstream} 的只读镜像：请到上游参与。",
        "This repository is a read-only mirror of {upstream}: take part upstream.",
    ),
    (
        "err.namespace.not_found",
        "找不到命名空间“{namespace}”。",
        "There is no namespace “{namespace}”.",
    ),
    (
        "err.namespace.not_writable",
        "你不能在“{namespace}”下创建仓库。",
        "You cannot create repositories in “{namespace}”.",
    ),
    // Paths in a repo (hub-core/src/paths.rs).
    ("err.path.empty", "路径不能为空。", "The path is empty."),
    (
        "err.path.too_long",
        "路径不能超过 {max} 字节。",
        "A path may have at most {max} bytes.",
    ),
    (
        "err.path.absolute",
        "不能使用绝对路径：{path}。",
        "Absolute paths are not allowed: {path}.",
    ),
    (
        "err.path.control",
        "路径中有控制字符。",
        "The path contains a control character.",
    ),
    (
        "err.path.backslash",
        "路径不能包含反斜杠：{path}。",
        "A path may not contain a backslash: {path}.",
    ),
    (
        "err.path.dot_dot",
        "路径不能包含“..”：{path}。",
        "A path may not contain “..”: {path}.",
    ),
    (
        "err.path.dot_git",
        "路径不能包含 .git 目录（或 Windows、macOS 视作 .git 的名称）：{path}。",
        "A path may not contain a .git component (or a name Windows or macOS reads as .git): {path}.",
    ),
    (
        "err.path.component_too_long",
        "路径的每一段最多 {max} 字节。",
        "Each part of a path may have at most {max} bytes.",
    ),
    (
        "err.path.no_file",
        "路径没有指向文件：{path}。",
        "The path names no file: {path}.",
    ),
    // Browser uploads and the editor (hub-core/src/uploads/).
    (
        "err.upload.bad_manifest",
        "上传清单无效。",
        "The upload's list of files is not valid.",
    ),
    (
        "err.upload.no_files",
        "请至少选择一个文件上传。",
        "Choose at least one file to upload.",
    ),
    (
        "err.upload.too_many_files",
        "每次上传最多 {max} 个文件。",
        "At most {max} files per upload.",
    ),
    (
        "err.commit.no_summary",
        "请填写提交说明。",
        "A commit needs a summary.",
    ),
    (
        "err.upload.too_large",
        "每次上传最多 {gib} GiB；更大的文件请用 git lfs 或 huggingface_hub 上传。",
        "At most {gib} GiB per upload; use git lfs or huggingface_hub for more.",
    ),
    (
        "err.upload.twice",
        "{path} 在这次上传中出现了两次。",
        "{path} appears twice in the upload.",
    ),
    (
        "err.upload.too_long",
        "上传的内容比声明的更长。",
        "The upload is longer than its list of files says.",
    ),
    (
        "err.upload.no_end",
        "上传没有正常结束。",
        "The upload did not end properly.",
    ),
    (
        "err.upload.unreadable",
        "无法读取上传的内容。",
        "The upload cannot be read.",
    ),
    (
        "err.upload.manifest_too_long",
        "上传清单超过了 {kib} KiB。",
        "The upload's list of files is longer than {kib} KiB.",
    ),
    (
        "err.upload.no_manifest",
        "上传的内容没有以文件清单开头。",
        "The upload does not start with its list of files.",
    ),
    (
        "err.upload.not_for_lfs",
        "{path} 超过 {max} 字节，又不能存入 LFS。",
        "{path} is larger than {max} bytes and cannot be stored in LFS.",
    ),
    (
        "err.upload.stalled",
        "{path} 的上传停滞了。",
        "The upload of {path} stalled.",
    ),
    (
        "err.upload.ended_early",
        "{path} 的上传提前结束了。",
        "The upload of {path} ended early.",
    ),
    (
        "err.edit.not_editable",
        "这个文件存储在 LFS 中或太大，不能在浏览器里编辑。",
        "This file is stored in LFS or too large to edit in the browser.",
    ),
    (
        "err.edit.not_text",
        "这个文件不是 UTF-8 文本。",
        "This file is not UTF-8 text.",
    ),
    (
        "err.edit.too_large",
        "文件太大，不能用浏览器编辑器保存，请改用上传。",
        "The file is too large for the browser editor; upload it instead.",
    ),
    (
        "err.edit.exists",
        "{path} 已经存在。",
        "{path} already exists.",
    ),
    // Why the inference widget cannot run a model (hub-core/src/inference/).
    (
        "err.inference.no_config",
        "这个模型没有 config.json，无法运行。",
        "This model has no config.json, so it cannot run.",
    ),
    (
        "err.inference.bad_config",
        "这个模型的 config.json 无效，无法运行。",
        "This model's config.json is not valid, so it cannot run.",
    ),
    (
        "err.inference.no_model_type",
        "这个模型的 config.json 没有写明 model_type，无法运行。",
        "This model's config.json has no model_type, so it cannot run.",
    ),
    (
        "err.inference.unknown_quantization",
        "这个模型没有“{tag}”的 GGUF 文件；可选：{choices}。",
        "This model has no “{tag}” GGUF file; choose one of: {choices}.",
    ),
    (
        "err.inference.bad_gguf",
        "{file} 不是可读的 GGUF 文件：{detail}",
        "{file} is not a readable GGUF file: {detail}",
    ),
    (
        "err.inference.gguf_no_architecture",
        "{file} 没有写明 general.architecture，无法运行。",
        "{file} has no general.architecture, so it cannot run.",
    ),
    (
        "err.inference.unknown_task",
        "无法判断“{architecture}”模型的用途：请在卡片中写明 pipeline_tag。",
        "What a “{architecture}” model does is unknown: set pipeline_tag in its card.",
    ),
    (
        "err.inference.no_workers",
        "本站目前没有连接任何推理节点。",
        "No inference worker is connected to this hub.",
    ),
    (
        "err.inference.architecture",
        "没有推理节点支持“{architecture}”架构的模型。",
        "No inference worker runs “{architecture}” models.",
    ),
    (
        "err.inference.task",
        "没有推理节点支持这个任务（{task}）。",
        "No inference worker does this task ({task}).",
    ),
    (
        "err.inference.too_large",
        "这个模型需要的内存超过了所有推理节点。",
        "This model needs more memory than any inference worker has.",
    ),
    (
        "err.inference.no_worker",
        "目前没有推理节点能运行这个模型。",
        "No inference worker can run this model right now.",
    ),
    // Card metadata (hub-core/src/cards.rs and cards/check.rs).
    (
        "err.card.too_large",
        "元数据太大：{size} 字节，上限 {max} 字节。",
        "The metadata is too large: {size} bytes, the limit is {max}.",
    ),
    (
        "err.card.not_a_mapping",
        "元数据必须是由“键：值”组成的映射。",
        "The metadata must be a mapping of “key: value” lines.",
    ),
    (
        "err.card.yaml_at",
        "元数据的 YAML 格式有误（第 {line} 行，第 {column} 列）。",
        "The metadata is not valid YAML (line {line}, column {column}): {detail}",
    ),
    (
        "err.card.yaml",
        "元数据的 YAML 格式有误。",
        "The metadata is not valid YAML: {detail}",
    ),
    (
        "err.card.field_types",
        "元数据中这些字段的类型不对：{fields}。",
        "These metadata fields have the wrong type: {fields}.",
    ),
    (
        "err.card.must_be_string",
        "“{field}”必须是字符串。",
        "“{field}” must be a string.",
    ),
    (
        "err.card.must_be_strings",
        "“{field}”必须是字符串或字符串列表。",
        "“{field}” must be a string or a list of strings.",
    ),
    (
        "err.card.must_be_boolean",
        "“{field}”必须是布尔值（true 或 false）。",
        "“{field}” must be true or false.",
    ),
    (
        "err.card.must_be_number",
        "“{field}”必须是数字。",
        "“{field}” must be a number.",
    ),
    (
        "err.card.must_be_objects",
        "“{field}”必须是由映射组成的列表。",
        "“{field}” must be a list of mappings.",
    ),
    (
        "err.card.must_be_object_or_objects",
        "“{field}”必须是映射或由映射组成的列表。",
        "“{field}” must be a mapping or a list of mappings.",
    ),
    (
        "err.card.must_be_boolean_or_object",
        "“{field}”必须是布尔值或映射。",
        "“{field}” must be true, false or a mapping.",
    ),
    (
        "err.card.must_be_number_or_object",
        "“{field}”必须是数字或映射。",
        "“{field}” must be a number or a mapping.",
    ),
    (
        "err.card.must_be_object",
        "“{field}”必须是映射。",
        "“{field}” must be a mapping.",
    ),
    (
        "err.card.must_be_array",
        "“{field}”必须是列表。",
        "“{field}” must be a list.",
    ),
    (
        "err.card.required",
        "缺少“{field}”。",
        "“{field}” is required.",
    ),
    // Discussions and pull requests (hub-core/src/community/).
    (
        "err.community.title_length",
        "标题须为 {min} 到 {max} 个字符。",
        "A title has {min} to {max} characters.",
    ),
    (
        "err.community.title_one_line",
        "标题只能是一行文字。",
        "A title is one line of text.",
    ),
    (
        "err.community.comment_too_long",
        "评论最多 {kib} KiB。",
        "A comment has at most {kib} KiB.",
    ),
    (
        "err.community.comment_empty",
        "评论不能为空。",
        "The comment is empty.",
    ),
    (
        "err.community.comment_nul",
        "评论中不能包含 NUL 字符。",
        "The comment contains a NUL character.",
    ),
    (
        "err.community.not_found",
        "找不到讨论 {num}。",
        "There is no discussion {num}.",
    ),
    (
        "err.community.comment_not_found",
        "找不到评论 {id}。",
        "There is no comment {id}.",
    ),
    (
        "err.community.not_pull_request",
        "讨论 {num} 不是拉取请求。",
        "Discussion {num} is not a pull request.",
    ),
    (
        "err.community.merged",
        "这个拉取请求已合并。",
        "This pull request is merged.",
    ),
    (
        "err.community.already_merged",
        "这个拉取请求已经合并过了。",
        "This pull request is already merged.",
    ),
    (
        "err.community.closed_merge",
        "这个拉取请求已关闭，请先重新打开再合并。",
        "This pull request is closed: reopen it before merging.",
    ),
    (
        "err.community.not_open",
        "拉取请求 {num} 已不在进行中，请重新打开后再添加提交。",
        "Pull request {num} is {status}: reopen it to add commits.",
    ),
    (
        "err.community.already_status",
        "这个讨论已经处于该状态。",
        "This discussion is already {status}.",
    ),
    (
        "err.community.status_change",
        "讨论的状态只能改为进行中或已关闭（拉取请求通过合并来合入）。",
        "A discussion's status changes to open or closed (pull requests merge through merge).",
    ),
    (
        "err.community.conflicts",
        "这个拉取请求与 {branch} 有冲突：{files}。请先更新拉取请求（在 {branch} 上合并或变基）后再试。",
        "This pull request has conflicts with {branch}: {files}. Update the pull request (merge or rebase it on {branch}) and try again.",
    ),
    (
        "err.community.author_or_writer",
        "只有作者或对此仓库有写权限的人才能这样做。",
        "Only its author or someone with write access to this repo can do this.",
    ),
    (
        "err.community.author_only",
        "只有作者才能编辑这条评论。",
        "Only its author can edit this comment.",
    ),
    (
        "err.community.hidden_not_editable",
        "已隐藏的评论不能编辑。",
        "A hidden comment cannot be edited.",
    ),
    (
        "err.billing.insufficient_credits",
        "余额不足。",
        "Insufficient credits.",
    ),
    (
        "err.billing.bad_amount",
        "金额格式不正确（以元为单位，最多六位小数）：{amount}",
        "Not an amount in yuan (at most six decimals): {amount}",
    ),
    (
        "err.billing.reason_required",
        "请填写原因（会随这笔转账一起保存）。",
        "Say why (the reason is kept with the transfer).",
    ),
    (
        "err.billing.amount_not_positive",
        "金额必须大于零。",
        "The amount must be more than zero.",
    ),
    (
        "err.billing.org_admins_only",
        "只有组织管理员才能使用组织的额度。",
        "Only the organization's admins may use its credits.",
    ),
];
