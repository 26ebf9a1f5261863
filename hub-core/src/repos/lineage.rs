//! The model tree, as Hugging Face shows it on a base model's page: how
//! many models the visitor may see name this one as their `base_model`,
//! by relation (`adapter`, `finetune`, `merge`, `quantized`), from the
//! `base_model:{relation}:{base}` tags their cards give them.

use super::Repo;
use super::access::Reader;
use crate::accounts::Actor;
use crate::error::Result;
use crate::hub::Hub;

/// `(relation, count)` of the models derived from `repo`, relations in
/// the order the page lists them.
pub async fn derived(hub: &Hub, actor: &Actor, repo: &Repo) -> Result<Vec<(String, i64)>> {
    let reader = Reader::of(actor);
    let sql = sqlx::AssertSqlSafe(format!(
        "SELECT rel, count(*) FROM repos r,
             unnest(ARRAY['adapter', 'finetune', 'merge', 'quantized']) rel
         WHERE r.repo_type = 'model' AND ('base_model:' || rel || ':' || $1) = ANY(r.tags)
           AND {}
         GROUP BY rel ORDER BY array_position(ARRAY['adapter', 'finetune', 'merge', 'quantized'], rel)",
        reader.sql_condition("$2")
    ));
    let mut query = sqlx::query_as::<_, (String, i64)>(sql).bind(repo.full_name());
    if let Some(id) = reader.user_id() {
        query = query.bind(id);
    }
    Ok(query.fetch_all(&hub.db).await?)
}
