//! One context locked for writing inside a write transaction, step by step: its spec rows,
//! the step-type index (written once per type when the writer finishes) and the catalog
//! counters.

use super::{corrupt_index, step_row, storable};
use crate::codec::{self, CatalogRecordV1};
use crate::error::{Error, Result, shorten};
use crate::pg::catalog::record;
use crate::pg::conn::{Sql, column, signed};
use crate::pg::write::{Batch, check_record_size};
use crate::spec::StepSpecification;

/// One context, locked for writing inside a write transaction.
pub(crate) struct PgContextWriter<'s, 'c> {
    sql: &'s mut Sql<'c>,
    name: String,
    entry: CatalogRecordV1,
    key: i64,
    /// The step-type index's changes, written once per type by [`Self::finish`]: updating
    /// one type's row for every step of a large import made the server follow a longer
    /// chain of row versions at each update (none can be pruned inside the transaction), so
    /// that 200,000 steps took minutes instead of seconds.
    types: std::collections::HashMap<String, TypeTally>,
    /// Whether a put or remove changed a row ([`Self::changed`]).
    changed: bool,
    /// Whether the counters or the type index changed since they were last written (or
    /// read back) in the catalog: a batch must write them first.
    unwritten: bool,
}

/// One step type's row of the index as this writer changes it.
struct TypeTally {
    /// Its count in the index when first touched (0 when it had no row).
    stored: i64,
    /// Whether it had a row then.
    had_row: bool,
    /// Steps added (positive) or removed (negative) since.
    change: i64,
    /// The first-seen position it got when it appeared in this writer (also again, after
    /// its last step went): its row then takes this position.
    appeared_at: Option<i64>,
}

impl TypeTally {
    fn count(&self) -> i64 {
        self.stored + self.change
    }
}

impl<'s, 'c> PgContextWriter<'s, 'c> {
    pub(in crate::pg) fn new(sql: &'s mut Sql<'c>, name: &str, entry: CatalogRecordV1) -> Self {
        PgContextWriter {
            sql,
            name: name.to_owned(),
            entry,
            key: i64::try_from(entry.id).unwrap_or(i64::MAX),
            types: std::collections::HashMap::new(),
            changed: false,
            unwritten: false,
        }
    }

    /// Whether a put or remove through this writer changed a row: a put of the record a
    /// step holds already changes none, nor does a replacing [`Self::put_all`] of records
    /// every step holds already.
    pub(crate) fn changed(&self) -> bool {
        self.changed
    }

    fn action(&self, step: &str) -> String {
        format!(
            "writing step {} of context {}",
            shorten(step),
            shorten(&self.name)
        )
    }

    fn stored(&self, value: u64) -> Result<i64> {
        signed(value, &|| {
            format!("the catalog entry of context {}", shorten(&self.name))
        })
    }

    /// How many steps the context holds in this transaction (its catalog row is locked).
    pub(crate) fn step_count(&self) -> u64 {
        self.entry.step_count
    }

    /// Stores `spec` under `step`. With `replace == false` a taken name is
    /// [`Error::AlreadyRegistered`]; with `replace == true` the step keeps its registration
    /// position and the type index moves it if its type changed. Returns true when the
    /// step was inserted, false when it was replaced.
    pub(crate) fn put(
        &mut self,
        step: &str,
        spec: &StepSpecification,
        replace: bool,
    ) -> Result<bool> {
        let action = self.action(step);
        let existing = self.sql.query_opt(
            &action,
            "SELECT step_name, position, step_type, record FROM pd_specs \
             WHERE context_id = $1 AND step_name = $2",
            &[&self.key, &step],
        )?;
        let existing = existing
            .map(|row| {
                let (_, old) = step_row(&self.name, &row)?;
                let stored: Vec<u8> = column(&row, 3, &|| self.action(step))?;
                Ok::<_, Error>((old, stored))
            })
            .transpose()?;
        match existing {
            Some(_) if !replace => Err(Error::AlreadyRegistered {
                context: self.name.clone(),
                step: step.to_owned(),
            }),
            Some((old, stored)) => {
                let record = codec::encode_step(old.seq, spec, 0);
                if record == stored {
                    // The step holds exactly this spec already.
                    return Ok(false);
                }
                self.changed = true;
                self.unwritten = true;
                if old.step_type != spec.step_type {
                    self.unindex_type(&old.step_type, step)?;
                    self.index_type(&spec.step_type, step)?;
                }
                // The server could not hold it; the caller's transaction then applies nothing.
                check_record_size(&self.name, step, record.len())?;
                self.sql.execute(
                    &action,
                    "UPDATE pd_specs SET step_type = $3, record = $4 \
                     WHERE context_id = $1 AND step_name = $2",
                    &[&self.key, &step, &spec.step_type, &record],
                )?;
                Ok(false)
            }
            None => {
                self.changed = true;
                self.unwritten = true;
                let seq = self.next_seq();
                self.index_type(&spec.step_type, step)?;
                self.entry.step_count += 1;
                let record = codec::encode_step(seq, spec, 0);
                check_record_size(&self.name, step, record.len())?;
                let position = self.stored(seq)?;
                self.sql.execute(
                    &action,
                    "INSERT INTO pd_specs (context_id, step_name, position, step_type, record) \
                     VALUES ($1, $2, $3, $4, $5)",
                    &[&self.key, &step, &position, &spec.step_type, &record],
                )?;
                Ok(true)
            }
        }
    }

    /// Removes `step`; false if it was not registered.
    pub(crate) fn remove(&mut self, step: &str) -> Result<bool> {
        if !storable(step) {
            return Ok(false);
        }
        let row = self.sql.query_opt(
            &self.action(step),
            "DELETE FROM pd_specs WHERE context_id = $1 AND step_name = $2 \
             RETURNING step_name, position, step_type, record",
            &[&self.key, &step],
        )?;
        let Some(row) = row else {
            return Ok(false);
        };
        let (_, old) = step_row(&self.name, &row)?;
        self.changed = true;
        self.unwritten = true;
        self.unindex_type(&old.step_type, step)?;
        self.entry.step_count = self.entry.step_count.saturating_sub(1);
        Ok(true)
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.entry.next_seq;
        self.entry.next_seq += 1;
        seq
    }

    /// The tally of `step_type`, read from the index the first time this writer touches it.
    fn tally(&mut self, step_type: &str, step: &str) -> Result<&mut TypeTally> {
        if !self.types.contains_key(step_type) {
            let row = self.sql.query_opt(
                &self.action(step),
                "SELECT step_count FROM pd_step_types WHERE context_id = $1 AND step_type = $2",
                &[&self.key, &step_type],
            )?;
            let stored: Option<i64> = row
                .map(|row| {
                    column(&row, 0, &|| {
                        format!("the step-type index of context {}", shorten(&self.name))
                    })
                })
                .transpose()?;
            self.types.insert(
                step_type.to_owned(),
                TypeTally {
                    stored: stored.unwrap_or(0),
                    had_row: stored.is_some(),
                    change: 0,
                    appeared_at: None,
                },
            );
        }
        self.types
            .get_mut(step_type)
            .ok_or_else(|| corrupt_index(&self.name, "a step type's tally went missing".to_owned()))
    }

    /// Counts one more step of `step_type`, giving the type the next position if it has
    /// none (new, or its last step went earlier in this writer).
    fn index_type(&mut self, step_type: &str, step: &str) -> Result<()> {
        if self.tally(step_type, step)?.count() <= 0 {
            let position = self.next_seq();
            let position = self.stored(position)?;
            self.entry.step_type_count += 1;
            self.tally(step_type, step)?.appeared_at = Some(position);
        }
        self.tally(step_type, step)?.change += 1;
        Ok(())
    }

    /// Counts one step of `step_type` less; the type goes when none is left.
    fn unindex_type(&mut self, step_type: &str, step: &str) -> Result<()> {
        let tally = self.tally(step_type, step)?;
        if tally.count() <= 0 {
            return Err(corrupt_index(
                &self.name,
                format!(
                    "step {} has type {} that the index does not list",
                    shorten(step),
                    shorten(step_type)
                ),
            ));
        }
        tally.change -= 1;
        if tally.count() == 0 {
            self.entry.step_type_count = self.entry.step_type_count.saturating_sub(1);
        }
        Ok(())
    }

    /// Writes each changed type's row of the index once.
    fn write_types(&mut self) -> Result<()> {
        let action = format!(
            "writing the step-type index of context {}",
            shorten(&self.name)
        );
        for (step_type, tally) in std::mem::take(&mut self.types) {
            let count = tally.count();
            match (count > 0, tally.had_row, tally.appeared_at) {
                (false, true, _) => {
                    self.sql.execute(
                        &action,
                        "DELETE FROM pd_step_types WHERE context_id = $1 AND step_type = $2",
                        &[&self.key, &step_type],
                    )?;
                }
                (false, false, _) => {}
                (true, false, Some(first)) => {
                    self.sql.execute(
                        &action,
                        "INSERT INTO pd_step_types (context_id, step_type, first_position, step_count) \
                         VALUES ($1, $2, $3, $4)",
                        &[&self.key, &step_type, &first, &count],
                    )?;
                }
                (true, true, Some(first)) => {
                    self.sql.execute(
                        &action,
                        "UPDATE pd_step_types SET first_position = $3, step_count = $4 \
                         WHERE context_id = $1 AND step_type = $2",
                        &[&self.key, &step_type, &first, &count],
                    )?;
                }
                (true, true, None) if tally.change != 0 => {
                    self.sql.execute(
                        &action,
                        "UPDATE pd_step_types SET step_count = $3 \
                         WHERE context_id = $1 AND step_type = $2",
                        &[&self.key, &step_type, &count],
                    )?;
                }
                (true, true, None) => {}
                (true, false, None) => {
                    return Err(corrupt_index(
                        &self.name,
                        format!(
                            "step type {} was counted without appearing",
                            shorten(&step_type)
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// Stores every item in order as [`Self::put`] does, through the batch function
    /// `pd_put_steps` in calls of at most 4 MiB ([`Batch`]) (an import made two round trips
    /// per step: 200,000 steps took 44 s); returns how many were inserted. What this writer
    /// changed before, if anything, is written first (the function counts from the catalog
    /// row), and its view of the catalog row is read back after.
    pub(crate) fn put_all(
        &mut self,
        items: &[(&str, &StepSpecification)],
        replace: bool,
    ) -> Result<usize> {
        if items.is_empty() {
            return Ok(0);
        }
        if self.unwritten {
            self.write_entry()?;
        }
        let revision = self.entry.revision;
        let action = format!(
            "writing {} step(s) of context {}",
            items.len(),
            shorten(&self.name)
        );
        let batch = Batch::encode(&self.name, items)?;
        let (inserted, wrote) = batch.send(self.sql, &action, (&self.name, self.key), replace)?;
        self.changed |= wrote;
        let row = self.sql.query_opt(
            &action,
            "SELECT id, step_count, step_type_count, next_position, revision \
             FROM pd_contexts WHERE id = $1",
            &[&self.key],
        )?;
        match row {
            Some(row) => {
                self.entry = record(&row, 0, &self.name)?;
                // Each call that changed a step bumped the revision; a write bumps it once,
                // in `finish`.
                self.entry.revision = revision;
            }
            None => {
                return Err(Error::ContextCleared {
                    context: self.name.clone(),
                });
            }
        }
        Ok(inserted)
    }

    /// Writes the step-type index's changes and the counters into the catalog row (the
    /// revision as it is).
    fn write_entry(&mut self) -> Result<()> {
        self.write_types()?;
        let values = [
            self.stored(self.entry.step_count)?,
            self.stored(self.entry.step_type_count)?,
            self.stored(self.entry.next_seq)?,
            self.stored(self.entry.revision)?,
        ];
        self.sql.execute(
            &format!(
                "updating the catalog entry of context {}",
                shorten(&self.name)
            ),
            "UPDATE pd_contexts SET step_count = $2, step_type_count = $3, \
             next_position = $4, revision = $5 WHERE id = $1",
            &[&self.key, &values[0], &values[1], &values[2], &values[3]],
        )?;
        self.unwritten = false;
        Ok(())
    }

    /// Writes the updated counts and a new revision to the catalog, in this transaction.
    pub(crate) fn finish(mut self) -> Result<CatalogRecordV1> {
        self.entry.revision += 1;
        self.write_entry()?;
        Ok(self.entry)
    }
}
