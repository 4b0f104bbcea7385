//! What the fediverse source asks the ledger: whether a status (or one version of an edited
//! status) is known to any route, so an edit is offered only for a status the routes had,
//! and each version only once.

use super::{Ledger, StoreError};

impl Ledger {
    /// Which of `ids` have parts (in any state, skipped included) on any route.
    pub fn known_posts(&self, ids: &[String]) -> Result<Vec<String>, StoreError> {
        let conn = self.conn();
        let mut stmt =
            conn.prepare_cached("SELECT EXISTS (SELECT 1 FROM parts WHERE source_post_id = ?1)")?;
        let mut known = Vec::new();
        for id in ids {
            if stmt.query_row([id], |row| row.get::<_, bool>(0))? {
                known.push(id.clone());
            }
        }
        Ok(known)
    }
}
