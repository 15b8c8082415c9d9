//! Query-building pieces every backend's statements share.

use sqlx::QueryBuilder;

/// Appends `column IN ($1, $2, …)` binding `ids`; with no ids, `1 = 0` (`IN ()` is not SQL).
pub(crate) fn push_in<DB>(qb: &mut QueryBuilder<DB>, column: &str, ids: &[i64])
where
    DB: sqlx::Database,
    for<'t> i64: sqlx::Encode<'t, DB> + sqlx::Type<DB>,
{
    if ids.is_empty() {
        qb.push("1 = 0");
        return;
    }
    qb.push(column).push(" IN (");
    let mut list = qb.separated(", ");
    for id in ids {
        list.push_bind(*id);
    }
    list.push_unseparated(")");
}
