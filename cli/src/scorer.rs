//! Scoring the candidates `resolve` shows for unwired dependencies and `--explain` lists.

use std::collections::{HashMap, HashSet};

use pipeline_deps::resolve::CandidateScorer;

use crate::Failure;
use crate::json::Candidate;

/// The candidates of each consumer's dependencies, scored once per consumer. Only the
/// first `keep` candidates of each dependency (and their number) are built and kept: a
/// consumer's full candidate lists grow with the number of steps, so building them for
/// every consumer made `resolve` of 10,000 steps quadratic, and keeping them would hold
/// every (dependency, output) pair of the context in memory.
pub struct Scorer<'r> {
    scorer: CandidateScorer<'r>,
    /// How many candidates per dependency are kept (at least 1: the best one).
    keep: usize,
    cache: HashMap<String, HashMap<String, Scored>>,
}

/// The best candidates of one dependency and how many there are in all.
struct Scored {
    best: Vec<Candidate>,
    total: usize,
}

/// At most this many candidates per dependency are scored per call for a group of
/// consumers (one registry read each on a server); with more kept per dependency, the
/// consumers are scored a few at a time, so that memory stays bounded.
const CANDIDATES_PER_CALL: usize = 1024;
/// The most consumers scored in one call.
const CONSUMERS_PER_CALL: usize = 256;

impl<'r> Scorer<'r> {
    /// Keeps the first `keep` candidates of each dependency `scorer` scores.
    pub fn new(scorer: CandidateScorer<'r>, keep: usize) -> Self {
        Scorer {
            scorer,
            keep,
            cache: HashMap::new(),
        }
    }

    /// Whether `consumer` was scored (and not all taken yet).
    pub fn is_scored(&self, consumer: &str) -> bool {
        self.cache.contains_key(consumer)
    }

    /// How many consumers are scored in one call.
    pub fn per_call(&self) -> usize {
        (CANDIDATES_PER_CALL / self.keep.max(1)).clamp(1, CONSUMERS_PER_CALL)
    }

    /// Scores those of `consumers` not scored yet, in groups (one registry read each).
    pub fn prefetch(&mut self, consumers: &[&str]) -> Result<(), Failure> {
        let keep = self.keep.max(1);
        let per_call = self.per_call();
        let mut seen = HashSet::new();
        let pending: Vec<&str> = consumers
            .iter()
            .copied()
            .filter(|c| !self.cache.contains_key(*c) && seen.insert(*c))
            .collect();
        for group in pending.chunks(per_call) {
            let scored = self.scorer.top_candidates_many(group, keep)?;
            for (consumer, top) in group.iter().zip(scored) {
                // A step removed since the snapshot was taken (only possible on a server)
                // has no dependencies left to explain.
                let scored = top
                    .unwrap_or_default()
                    .into_iter()
                    .map(|(dependency, top)| {
                        let best = top
                            .candidates
                            .into_iter()
                            .map(|c| Candidate {
                                producer: c.provider_step,
                                output: c.property_reference.output_name().to_owned(),
                                score: c.score,
                                score_breakdown: c.score_breakdown,
                            })
                            .collect();
                        let total = top.total;
                        (dependency, Scored { best, total })
                    })
                    .collect();
                self.cache.insert((*consumer).to_owned(), scored);
            }
        }
        Ok(())
    }

    fn of(&mut self, consumer: &str) -> Result<&HashMap<String, Scored>, Failure> {
        if !self.cache.contains_key(consumer) {
            self.prefetch(&[consumer])?;
        }
        self.cache.get(consumer).ok_or_else(|| {
            Failure::Invalid(format!(
                "step '{}' could not be scored",
                crate::output::short(consumer)
            ))
        })
    }

    /// The best candidate of `consumer.dependency`.
    pub fn best(&mut self, consumer: &str, dependency: &str) -> Result<Option<Candidate>, Failure> {
        Ok(self
            .of(consumer)?
            .get(dependency)
            .and_then(|s| s.best.first().cloned()))
    }

    /// The first candidates (at most `keep`) of `consumer.dependency`, best first, and how
    /// many candidates it has in all; taken out of the cache (each is explained once).
    pub fn take(
        &mut self,
        consumer: &str,
        dependency: &str,
    ) -> Result<(Vec<Candidate>, usize), Failure> {
        self.of(consumer)?;
        Ok(self
            .cache
            .get_mut(consumer)
            .and_then(|scored| scored.remove(dependency))
            .map(|s| (s.best, s.total))
            .unwrap_or_default())
    }
}
