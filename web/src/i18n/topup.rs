//! The top-up page and the billing messages of hub-core's orders and
//! providers. (key, zh-CN, en)

pub(super) const MESSAGES: &[(&str, &str, &str)] = &[
    ("topup.title", "充值", "Top up"),
    ("topup.back", "返回账单", "Back to billing"),
    ("topup.wallet", "充值到", "Credits for"),
    ("topup.amount", "金额（元）", "Amount (¥)"),
    ("topup.provider", "支付方式", "Pay with"),
    ("topup.provider_wechat", "微信支付", "WeChat Pay"),
    ("topup.provider_alipay", "支付宝", "Alipay"),
    ("topup.provider_stripe", "银行卡（Stripe）", "Card (Stripe)"),
    ("topup.pay", "去支付", "Pay"),
    (
        "topup.scan",
        "请用手机扫描二维码完成支付。",
        "Scan the QR code with your phone to pay.",
    ),
    ("topup.waiting", "等待支付……", "Waiting for payment…"),
    ("topup.paid", "支付成功，已到账", "Paid: credited"),
    (
        "topup.failed",
        "未能创建订单，请稍后再试。",
        "The order could not be created; try again later.",
    ),
    ("topup.expired", "订单已过期。", "The order has expired."),
    (
        "topup.redirecting",
        "正在前往支付页面……",
        "Going to the payment page…",
    ),
    ("topup.error", "出错了：", "Something went wrong:"),
    (
        "topup.no_provider",
        "本站尚未配置在线支付。请联系站点管理员为您发放额度。",
        "No payment provider is configured on this hub. Site admins grant credits: ask one.",
    ),
    (
        "err.billing.no_provider",
        "本站尚未配置在线支付；请联系站点管理员发放额度。",
        "No payment provider is configured on this hub; ask a site admin to grant credits.",
    ),
    (
        "err.billing.provider_not_configured",
        "本站未配置支付方式“{provider}”。",
        "Payment provider “{provider}” is not configured on this hub.",
    ),
    (
        "err.billing.order_not_found",
        "找不到订单“{order}”。",
        "There is no order “{order}”.",
    ),
    (
        "err.billing.topup_range",
        "充值金额须在 ¥{min} 到 ¥{max} 之间。",
        "A top-up is from ¥{min} to ¥{max}.",
    ),
];
