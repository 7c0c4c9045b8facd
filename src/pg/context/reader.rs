//! One context as seen by one read snapshot: its steps, names, types and the step-type
//! index, each row checked as it is decoded.

use postgres::Row;

use super::{corrupt_index, spec_of, step_row, storable};
use crate::codec::CatalogRecordV1;
use crate::error::{Result, shorten};
use crate::pg::conn::{Sql, column};
use crate::spec::StepSpecification;

/// How many rows [`PgContextReader::for_each`] fetches at a time: a step's record is a few
/// kilobytes, so a batch is a few megabytes, and 200,000 steps take 200 round trips.
const EXPORT_BATCH: i32 = 1000;

/// One context as seen by one read snapshot.
pub(crate) struct PgContextReader<'s, 'c> {
    sql: &'s mut Sql<'c>,
    name: String,
    entry: CatalogRecordV1,
    key: i64,
}

impl<'s, 'c> PgContextReader<'s, 'c> {
    pub(in crate::pg) fn new(sql: &'s mut Sql<'c>, name: &str, entry: CatalogRecordV1) -> Self {
        PgContextReader {
            sql,
            name: name.to_owned(),
            entry,
            // Ids come from a bigint column, so they fit.
            key: i64::try_from(entry.id).unwrap_or(i64::MAX),
        }
    }

    fn action(&self) -> String {
        format!("reading context {}", shorten(&self.name))
    }

    /// One specification by step name.
    pub(crate) fn get(&mut self, step: &str) -> Result<Option<StepSpecification>> {
        if !storable(step) {
            return Ok(None);
        }
        let row = self.sql.query_opt(
            &self.action(),
            "SELECT step_name, position, step_type, record FROM pd_specs \
             WHERE context_id = $1 AND step_name = $2",
            &[&self.key, &step],
        )?;
        match row {
            None => Ok(None),
            Some(row) => {
                let (step, record) = step_row(&self.name, &row)?;
                spec_of(&self.name, &step, record).map(Some)
            }
        }
    }

    /// The specifications of `steps` (aligned; `None` = not registered), read with one
    /// query whatever their number.
    pub(crate) fn get_many(&mut self, steps: &[&str]) -> Result<Vec<Option<StepSpecification>>> {
        let wanted: Vec<&str> = steps.iter().copied().filter(|s| storable(s)).collect();
        let rows = self.sql.query(
            &self.action(),
            "SELECT step_name, position, step_type, record FROM pd_specs \
             WHERE context_id = $1 AND step_name = ANY($2)",
            &[&self.key, &wanted],
        )?;
        let mut found = std::collections::HashMap::with_capacity(rows.len());
        for row in &rows {
            let (step, record) = step_row(&self.name, row)?;
            let spec = spec_of(&self.name, &step, record)?;
            found.insert(step, spec);
        }
        Ok(steps.iter().map(|step| found.get(*step).cloned()).collect())
    }

    /// Whether a step of that name is registered.
    pub(crate) fn contains(&mut self, step: &str) -> Result<bool> {
        if !storable(step) {
            return Ok(false);
        }
        let row = self.sql.query_opt(
            &self.action(),
            "SELECT 1 FROM pd_specs WHERE context_id = $1 AND step_name = $2",
            &[&self.key, &step],
        )?;
        Ok(row.is_some())
    }

    fn check_count(&self, listed: usize, counted: u64, what: &str) -> Result<()> {
        if listed as u64 == counted {
            return Ok(());
        }
        Err(corrupt_index(
            &self.name,
            format!("it lists {listed} {what} but the catalog counts {counted}"),
        ))
    }

    /// Step names in registration order.
    pub(crate) fn names(&mut self) -> Result<Vec<String>> {
        let rows = self.sql.query(
            &self.action(),
            "SELECT step_name FROM pd_specs WHERE context_id = $1 ORDER BY position",
            &[&self.key],
        )?;
        let at = || format!("a step row of context {}", shorten(&self.name));
        let names = rows
            .iter()
            .map(|row| column(row, 0, &at))
            .collect::<Result<Vec<String>>>()?;
        self.check_count(names.len(), self.entry.step_count, "steps")?;
        Ok(names)
    }

    /// Every step with its specification, in registration order.
    pub(crate) fn all(&mut self) -> Result<Vec<(String, StepSpecification)>> {
        let rows = self.sql.query(
            &self.action(),
            "SELECT step_name, position, step_type, record FROM pd_specs \
             WHERE context_id = $1 ORDER BY position",
            &[&self.key],
        )?;
        self.check_count(rows.len(), self.entry.step_count, "steps")?;
        self.specs_of(&rows)
    }

    /// Calls `visit` with every step and its specification, in registration order, reading
    /// the rows [`EXPORT_BATCH`] at a time through a cursor of this snapshot, then checks
    /// their number against the catalog's count. Returns how many were visited.
    pub(crate) fn for_each(
        &mut self,
        visit: &mut dyn FnMut(String, StepSpecification) -> Result<()>,
    ) -> Result<u64> {
        let action = self.action();
        let name = self.name.clone();
        let mut count = 0usize;
        self.sql.query_batches(
            &action,
            "SELECT step_name, position, step_type, record FROM pd_specs \
             WHERE context_id = $1 ORDER BY position",
            &[&self.key],
            EXPORT_BATCH,
            &mut |rows| {
                for row in rows {
                    let (step, record) = step_row(&name, row)?;
                    let spec = spec_of(&name, &step, record)?;
                    visit(step, spec)?;
                    count += 1;
                }
                Ok(())
            },
        )?;
        self.check_count(count, self.entry.step_count, "steps")?;
        Ok(count as u64)
    }

    fn specs_of(&self, rows: &[Row]) -> Result<Vec<(String, StepSpecification)>> {
        rows.iter()
            .map(|row| {
                let (step, record) = step_row(&self.name, row)?;
                let spec = spec_of(&self.name, &step, record)?;
                Ok((step, spec))
            })
            .collect()
    }

    /// Step types in first-seen order, checked against the catalog's type count.
    pub(crate) fn step_types(&mut self) -> Result<Vec<String>> {
        let rows = self.sql.query(
            &self.action(),
            "SELECT step_type FROM pd_step_types WHERE context_id = $1 ORDER BY first_position",
            &[&self.key],
        )?;
        let at = || format!("the step-type index of context {}", shorten(&self.name));
        let types = rows
            .iter()
            .map(|row| column(row, 0, &at))
            .collect::<Result<Vec<String>>>()?;
        self.check_count(types.len(), self.entry.step_type_count, "step types")?;
        Ok(types)
    }

    /// Every step type with its step names, from the spec rows' name, position and type
    /// columns (no record is fetched): names in registration order, types in the order of
    /// their first step. The step and type counts are checked against the catalog's.
    pub(crate) fn type_members(&mut self) -> Result<Vec<(String, Vec<String>)>> {
        let rows = self.sql.query(
            &self.action(),
            "SELECT step_type, step_name FROM pd_specs WHERE context_id = $1 ORDER BY position",
            &[&self.key],
        )?;
        self.check_count(rows.len(), self.entry.step_count, "steps")?;
        let at = || format!("a step row of context {}", shorten(&self.name));
        let mut groups: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
        let mut members: Vec<(String, Vec<String>)> = Vec::new();
        for row in &rows {
            let step_type: String = column(row, 0, &at)?;
            let step: String = column(row, 1, &at)?;
            let group = match groups.get(&step_type) {
                Some(&group) => group,
                None => {
                    groups.insert(step_type.clone(), members.len());
                    members.push((step_type, Vec::new()));
                    members.len() - 1
                }
            };
            members[group].1.push(step);
        }
        self.check_count(members.len(), self.entry.step_type_count, "step types")?;
        Ok(members)
    }

    /// The steps of one type with their specifications, in registration order.
    pub(crate) fn by_type(&mut self, step_type: &str) -> Result<Vec<(String, StepSpecification)>> {
        if !storable(step_type) {
            return Ok(Vec::new());
        }
        let rows = self.sql.query(
            &self.action(),
            "SELECT step_name, position, step_type, record FROM pd_specs \
             WHERE context_id = $1 AND step_type = $2 ORDER BY position",
            &[&self.key, &step_type],
        )?;
        self.specs_of(&rows)
    }
}
