
/// The entry type `{{entry_type}}` (added by `zomehost new entry-type`).
const {{const_name}}: &str = "{{entry_type}}";

/// What a `{{entry_type}}` entry holds on the chain.
#[derive(Serialize, Deserialize)]
struct {{type_name}} {
{{rust_fields}}}

/// A `{{entry_type}}` as `{{list_fn}}` returns it: its action hash and its fields.
#[derive(Serialize)]
struct {{type_name}}View {
    hash: ActionHash,
{{rust_fields}}}

/// Writes a `{{entry_type}}` entry {{{field_list}}} on the agent's source chain; returns its
/// action hash.
fn {{create_fn}}(input: {{type_name}}) -> ExternResult<ActionHash> {
    create({{const_name}}, &input)
}

/// Every `{{entry_type}}` on the agent's source chain, oldest first.
fn {{list_fn}}() -> ExternResult<Vec<{{type_name}}View>> {
    let records = query(
        ChainQueryFilter::new()
            .entry_type({{const_name}})
            .include_entries(true),
    )?;
    let mut found = Vec::new();
    for record in records {
        if let Some(entry) = record.entry_as::<{{type_name}}>()? {
            found.push({{type_name}}View {
                hash: record.action_hash,
{{rust_moves}}            });
        }
    }
    Ok(found)
}
