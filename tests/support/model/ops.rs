//! The operations the tests generate ([`Op`]: steps and specs are pool indices) and their
//! total decoding from arbitrary bytes ([`decode_ops`]: fuzz input, proptest, seeds).

use super::Ctx;

/// One operation. Steps and specs are pool indices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Op {
    GetRegistry(Ctx),
    Register(Ctx, u8, u8),
    Upsert(Ctx, u8, u8),
    RegisterMany(Ctx, Vec<(u8, u8)>),
    UpsertMany(Ctx, Vec<(u8, u8)>),
    Unregister(Ctx, u8),
    /// `SpecificationRegistry::clear`: empties the context, keeps it.
    Clear(Ctx),
    ClearContext(Ctx),
    /// `clear_all_contexts` through a view.
    ClearAll(u8),
    /// `import_json_with` of the given steps (`replace` or not).
    ImportJson(Ctx, Vec<(u8, u8)>, bool),
    /// `RegistryManager::import_steps` through the context's view (`replace` or not): the
    /// context is created in the import's transaction if missing; no handle is involved.
    ImportSteps(Ctx, Vec<(u8, u8)>, bool),
    /// `RegistryManager::import_steps_into_empty` through the context's view.
    ImportIntoEmpty(Ctx, Vec<(u8, u8)>),
    /// `RegistryManager::clear_context_of` the handle this process holds.
    ClearContextOf(Ctx),
    /// `get_registry_if_exists` through the context's view: takes a handle only if it exists.
    GetRegistryIfExists(Ctx),
}

impl Op {
    /// The context whose handle the operation goes through, if any.
    pub fn handle_ctx(&self) -> Option<Ctx> {
        match self {
            Op::Register(c, ..)
            | Op::Upsert(c, ..)
            | Op::RegisterMany(c, _)
            | Op::UpsertMany(c, _)
            | Op::Unregister(c, _)
            | Op::Clear(c)
            | Op::ImportJson(c, ..)
            | Op::ClearContextOf(c) => Some(*c),
            Op::GetRegistry(_)
            | Op::ClearContext(_)
            | Op::ClearAll(_)
            | Op::ImportSteps(..)
            | Op::ImportIntoEmpty(..)
            | Op::GetRegistryIfExists(_) => None,
        }
    }

    /// Whether the operation writes (commits) when it succeeds.
    pub fn writes(&self) -> bool {
        !matches!(self, Op::GetRegistry(_) | Op::GetRegistryIfExists(_))
    }
}

/// Decodes operations from arbitrary bytes (fuzz input, proptest, seeds). Total: every byte
/// string decodes, stopping where the bytes run out.
///
/// Each operation is a kind byte, a context byte, then its arguments. The kind is read
/// modulo 32: 16 to 19 are the manager's imports (`ImportSteps`, replacing when the kind's
/// high bit is set, and `ImportIntoEmpty`), `ClearContextOf` and `GetRegistryIfExists`,
/// added after the others; every other kind means what it meant before they were (the
/// operation of kind modulo 16), so older corpus inputs mostly keep their meaning.
pub fn decode_ops(bytes: &[u8]) -> Vec<Op> {
    let mut input = bytes.iter().copied();
    let mut ops = Vec::new();
    let ctx = |b: u8| Ctx {
        view: b % 2,
        short: (b / 2) % 3,
    };
    let items = |input: &mut std::iter::Copied<std::slice::Iter<'_, u8>>| -> Option<Vec<(u8, u8)>> {
        let n = input.next()? % 4;
        let mut items = Vec::new();
        for _ in 0..n {
            let b = input.next()?;
            items.push((b % 5, (b / 5) % 7));
        }
        Some(items)
    };
    while let Some(kind) = input.next() {
        let Some(c) = input.next().map(ctx) else {
            break;
        };
        let op = match kind % 32 {
            16 => match items(&mut input) {
                Some(items) => Op::ImportSteps(c, items, kind & 0x80 != 0),
                None => break,
            },
            17 => match items(&mut input) {
                Some(items) => Op::ImportIntoEmpty(c, items),
                None => break,
            },
            18 => Op::ClearContextOf(c),
            19 => Op::GetRegistryIfExists(c),
            other => match other % 16 {
                0 | 1 => Op::GetRegistry(c),
                2..=4 | 15 => {
                    let Some(b) = input.next() else { break };
                    Op::Register(c, b % 5, (b / 5) % 7)
                }
                5 | 6 => {
                    let Some(b) = input.next() else { break };
                    Op::Upsert(c, b % 5, (b / 5) % 7)
                }
                7 => match items(&mut input) {
                    Some(items) => Op::RegisterMany(c, items),
                    None => break,
                },
                8 => match items(&mut input) {
                    Some(items) => Op::UpsertMany(c, items),
                    None => break,
                },
                9 | 10 => {
                    let Some(b) = input.next() else { break };
                    Op::Unregister(c, b % 5)
                }
                11 => Op::Clear(c),
                12 => Op::ClearContext(c),
                13 => Op::ClearAll(c.view),
                _ => match items(&mut input) {
                    Some(items) => Op::ImportJson(c, items, kind & 0x80 != 0),
                    None => break,
                },
            },
        };
        ops.push(op);
    }
    ops
}
