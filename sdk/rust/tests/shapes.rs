//! The msgpack shapes of docs/abi.md, checked natively:
//! `cargo test -p zomehost_sdk --target x86_64-unknown-linux-gnu` (see docs/rust-toolchain.md).

use zomehost_sdk::*;

fn hash(prefix: [u8; 3], fill: u8) -> Vec<u8> {
    let mut v = prefix.to_vec();
    v.extend(std::iter::repeat(fill).take(36));
    v
}

fn agent() -> AgentPubKey {
    AgentPubKey(hash([0x84, 0x20, 0x24], 1))
}

fn bin(bytes: &[u8]) -> Vec<u8> {
    let mut v = vec![0xc4, bytes.len() as u8];
    v.extend_from_slice(bytes);
    v
}

fn s(text: &str) -> Vec<u8> {
    let mut v = vec![0xa0 | text.len() as u8];
    v.extend_from_slice(text.as_bytes());
    v
}

#[test]
fn unit_variant_is_a_string() {
    assert_eq!(encode(&CapAccess::Unrestricted).unwrap(), s("Unrestricted"));
    assert_eq!(encode(&GrantedFunctions::All).unwrap(), s("All"));
    assert_eq!(encode(&InitCallbackResult::Pass).unwrap(), s("Pass"));
    assert_eq!(encode(&ActionType::Create).unwrap(), s("Create"));
    assert_eq!(encode(&Level::Warn).unwrap(), s("warn"));
    assert_eq!(decode::<CapAccess>(&s("Unrestricted")).unwrap(), CapAccess::Unrestricted);
}

#[test]
fn data_variants_are_one_entry_maps() {
    let secret = CapSecret(vec![7; 64]);
    let mut expected = vec![0x81];
    expected.extend(s("Transferable"));
    expected.push(0x81);
    expected.extend(s("secret"));
    expected.extend(bin(&[7; 64]));
    let access = CapAccess::Transferable { secret };
    assert_eq!(encode(&access).unwrap(), expected);
    assert_eq!(decode::<CapAccess>(&expected).unwrap(), access);

    let mut fail = vec![0x81];
    fail.extend(s("Fail"));
    fail.extend(s("no"));
    assert_eq!(encode(&InitCallbackResult::Fail("no".into())).unwrap(), fail);

    let listed = GrantedFunctions::listed(&[("z", "f")]);
    let mut expected = vec![0x81];
    expected.extend(s("Listed"));
    expected.extend([0x91, 0x92]);
    expected.extend(s("z"));
    expected.extend(s("f"));
    assert_eq!(encode(&listed).unwrap(), expected);
    assert_eq!(decode::<GrantedFunctions>(&expected).unwrap(), listed);
}

#[test]
fn call_target_local_is_a_map_with_nil() {
    let mut expected = vec![0x81];
    expected.extend(s("Local"));
    expected.push(0xc0);
    assert_eq!(encode(&CallTarget::Local).unwrap(), expected);
    assert_eq!(decode::<CallTarget>(&expected).unwrap(), CallTarget::Local);
    assert_eq!(decode::<CallTarget>(&s("Local")).unwrap(), CallTarget::Local);
    let cell = CallTarget::Cell(CellId(DnaHash(hash([0x84, 0x2d, 0x24], 2)), agent()));
    let bytes = encode(&cell).unwrap();
    assert_eq!(&bytes[..7], &[0x81, 0xa4, b'C', b'e', b'l', b'l', 0x92]);
    assert_eq!(decode::<CallTarget>(&bytes).unwrap(), cell);
}

#[test]
fn hashes_are_bin_and_print_as_text() {
    let a = agent();
    assert_eq!(encode(&a).unwrap(), bin(&a.0));
    assert_eq!(decode::<AgentPubKey>(&bin(&a.0)).unwrap(), a);
    assert!(a.to_b64().starts_with("uhCAk"));
    assert_eq!(AgentPubKey::from_b64(&a.to_b64()).unwrap(), a);
}

#[test]
fn structs_are_named_maps() {
    let filter = ChainQueryFilter::new().entry_type("note").include_entries(true);
    let v: Value = decode(&encode(&filter).unwrap()).unwrap();
    assert_eq!(v.get("entry_type"), Some(&Value::Array(vec![Value::from("note")])));
    assert_eq!(v.get("include_entries"), Some(&Value::Bool(true)));
    assert_eq!(v.get("sequence_range"), Some(&Value::Nil));
    // Every key is optional when decoding.
    assert_eq!(decode::<ChainQueryFilter>(&[0x80]).unwrap(), ChainQueryFilter::default());
}

#[test]
fn chain_query_filter_nil_is_absent() {
    // docs/abi.md: every key optional; a missing or nil flag means false, a nil list is None.
    let mut all_nil = vec![0x85];
    for key in ["sequence_range", "entry_type", "action_type", "include_entries", "descending"] {
        all_nil.extend(s(key));
        all_nil.push(0xc0);
    }
    assert_eq!(decode::<ChainQueryFilter>(&all_nil).unwrap(), ChainQueryFilter::default());
    assert_eq!(decode_value::<ChainQueryFilter>(decode(&all_nil).unwrap()).unwrap(), ChainQueryFilter::default());

    // Flags nil, lists present; and the other way round.
    let mut flags_nil = vec![0x83];
    flags_nil.extend(s("entry_type"));
    flags_nil.push(0x91);
    flags_nil.extend(s("note"));
    flags_nil.extend(s("include_entries"));
    flags_nil.push(0xc0);
    flags_nil.extend(s("descending"));
    flags_nil.push(0xc0);
    assert_eq!(decode::<ChainQueryFilter>(&flags_nil).unwrap(), ChainQueryFilter::new().entry_type("note"));

    let mut lists_nil = vec![0x84];
    lists_nil.extend(s("sequence_range"));
    lists_nil.push(0xc0);
    lists_nil.extend(s("action_type"));
    lists_nil.push(0xc0);
    lists_nil.extend(s("include_entries"));
    lists_nil.push(0xc3);
    lists_nil.extend(s("descending"));
    lists_nil.push(0xc3);
    assert_eq!(
        decode::<ChainQueryFilter>(&lists_nil).unwrap(),
        ChainQueryFilter::new().include_entries(true).descending()
    );

    // A nil filter as a whole is no filter where the input is `Option<ChainQueryFilter>`.
    assert_eq!(decode::<Option<ChainQueryFilter>>(&[0xc0]).unwrap(), None);
    // A mistyped flag is still an error.
    let mut bad = vec![0x81];
    bad.extend(s("descending"));
    bad.extend(s("yes"));
    assert!(decode::<ChainQueryFilter>(&bad).is_err());

    // What it sends is unchanged: every key, flags as bools.
    let v: Value = decode(&encode(&ChainQueryFilter::new()).unwrap()).unwrap();
    assert_eq!(v.get("include_entries"), Some(&Value::Bool(false)));
    assert_eq!(v.get("descending"), Some(&Value::Bool(false)));
    assert_eq!(v.get("entry_type"), Some(&Value::Nil));
    assert_eq!(v.get("action_type"), Some(&Value::Nil));
}

#[test]
fn record_roundtrip_keeps_every_field() {
    // A record as the host writes it (docs/formats.md): an AgentValidationPkg with a field the
    // SDK does not name, and a Create with an entry.
    let mut action = vec![0x86];
    action.extend(s("type"));
    action.extend(s("AgentValidationPkg"));
    action.extend(s("author"));
    action.extend(bin(&agent().0));
    action.extend(s("timestamp"));
    action.extend([0xcf, 0, 6, 0, 0, 0, 0, 0, 1]);
    action.extend(s("action_seq"));
    action.push(1);
    action.extend(s("prev_action"));
    action.extend(bin(&hash([0x84, 0x29, 0x24], 3)));
    action.extend(s("membrane_proof"));
    action.push(0xc0);
    let mut record = vec![0x84];
    record.extend(s("action_hash"));
    record.extend(bin(&hash([0x84, 0x29, 0x24], 4)));
    record.extend(s("action"));
    record.extend(&action);
    record.extend(s("signature"));
    record.extend(bin(&[9; 64]));
    record.extend(s("entry"));
    record.push(0xc0);

    let decoded: Record = decode(&record).unwrap();
    assert_eq!(decoded.action.action_type, ActionType::AgentValidationPkg);
    assert_eq!(decoded.action.action_seq, 1);
    assert_eq!(decoded.action.timestamp, 0x0006_0000_0000_0001);
    assert_eq!(decoded.action.extra.get("membrane_proof"), Some(&Value::Nil));
    assert!(decoded.entry.is_none());
    // Re-encoded: the same map (key order aside).
    let again: Value = decode(&encode(&decoded).unwrap()).unwrap();
    let original: Value = decode(&record).unwrap();
    let sorted = |v: &Value| -> Vec<(String, Value)> {
        let mut out: Vec<_> = match v.get("action") {
            Some(Value::Map(m)) => m
                .iter()
                .map(|(k, v)| (k.as_str().unwrap().to_string(), v.clone()))
                .collect(),
            _ => panic!("no action"),
        };
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    };
    assert_eq!(sorted(&again), sorted(&original));

    let create = Record {
        action_hash: ActionHash(hash([0x84, 0x29, 0x24], 5)),
        action: Action {
            action_type: ActionType::Create,
            author: agent(),
            timestamp: 5,
            action_seq: 4,
            prev_action: Some(ActionHash(hash([0x84, 0x29, 0x24], 4))),
            entry_type: Some("note".into()),
            entry_hash: Some(EntryHash(hash([0x84, 0x21, 0x24], 6))),
            original_action_address: None,
            original_entry_address: None,
            deletes_address: None,
            deletes_entry_address: None,
            dna_hash: None,
            extra: Default::default(),
        },
        signature: Signature(vec![1; 64]),
        entry: Some(Entry {
            entry_type: "note".into(),
            content: Bytes::encode(&("t", "b")).unwrap(),
        }),
    };
    let bytes = encode(&create).unwrap();
    let back: Record = decode(&bytes).unwrap();
    assert_eq!(back, create);
    assert_eq!(back.entry_as::<(String, String)>().unwrap(), Some(("t".into(), "b".into())));
    let v: Value = decode(&bytes).unwrap();
    let keys: Vec<&str> = match v.get("action") {
        Some(Value::Map(m)) => m.iter().map(|(k, _)| k.as_str().unwrap()).collect(),
        _ => panic!(),
    };
    assert_eq!(
        keys,
        ["type", "author", "timestamp", "action_seq", "prev_action", "entry_type", "entry_hash"]
    );
}

#[test]
fn zome_call_response_shapes() {
    let ok = ZomeCallResponse::Ok(Bytes::encode("x").unwrap());
    let mut expected = vec![0x81];
    expected.extend(s("Ok"));
    expected.extend(bin(&s("x")));
    assert_eq!(encode(&ok).unwrap(), expected);
    assert_eq!(ok.decode::<String>().unwrap(), "x");
    let err = ZomeCallResponse::CallError("boom".into());
    assert_eq!(err.decode::<String>().unwrap_err().kind, "CallError");
    let unauthorized = ZomeCallResponse::Unauthorized {
        zome_name: "z".into(),
        fn_name: "f".into(),
        cell_id: CellId(DnaHash(hash([0x84, 0x2d, 0x24], 2)), agent()),
        provenance: agent(),
        reason: "no".into(),
    };
    let v: Value = decode(&encode(&unauthorized).unwrap()).unwrap();
    let body = v.get("Unauthorized").expect("one-entry map");
    assert_eq!(body.get("reason"), Some(&Value::from("no")));
    assert_eq!(decode::<ZomeCallResponse>(&encode(&unauthorized).unwrap()).unwrap(), unauthorized);
}

#[test]
fn decode_errors_are_readable() {
    let err = decode::<String>(&[0x05]).unwrap_err();
    assert_eq!(err.kind, "DeserializeError");
    assert_eq!(err.message, "invalid type: integer `5`, expected a string");
    let err = decode::<u32>(&[0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]).unwrap_err();
    assert_eq!(err.message, "invalid type: a float, expected u32");
    assert_eq!(decode::<f64>(&[0xcb, 0x3f, 0xf0, 0, 0, 0, 0, 0, 0]).unwrap(), 1.0);
}

#[test]
fn schedules_have_holochains_shape() {
    let persisted = encode(&Schedule::Persisted("*/5 * * * * *".into())).unwrap();
    assert_eq!(persisted, [vec![0x81], s("Persisted"), s("*/5 * * * * *")].concat());
    let ephemeral = encode(&Schedule::Ephemeral(core::time::Duration::new(3, 5))).unwrap();
    let duration = [vec![0x82], s("secs"), vec![3], s("nanos"), vec![5]].concat();
    assert_eq!(ephemeral, [vec![0x81], s("Ephemeral"), duration].concat());
    let none: Option<Schedule> = decode(&[0xc0]).unwrap();
    assert_eq!(none, None);
    let back: Option<Schedule> = decode(&ephemeral).unwrap();
    assert_eq!(back, Some(Schedule::Ephemeral(core::time::Duration::new(3, 5))));
}

#[test]
fn clone_cell_id_is_untagged() {
    let dna = DnaHash(hash([0x84, 0x2d, 0x24], 2));
    let cell = CellId(dna.clone(), agent());
    let by_id = DisableCloneCellInput { clone_cell_id: CloneCellId::CloneId("main.0".into()) };
    let mut expected = vec![0x81];
    expected.extend(s("clone_cell_id"));
    expected.extend(s("main.0"));
    assert_eq!(encode(&by_id).unwrap(), expected);
    let by_cell = DisableCloneCellInput { clone_cell_id: CloneCellId::CellId(cell.clone()) };
    let bytes = encode(&by_cell).unwrap();
    assert_eq!(&bytes[..16], &[&[0x81][..], &s("clone_cell_id")[..], &[0x92][..]].concat()[..]);
    assert_eq!(decode::<DisableCloneCellInput>(&bytes).unwrap(), by_cell);
    assert_eq!(decode::<DisableCloneCellInput>(&expected).unwrap(), by_id);
    let made = CreateCloneCellInput {
        cell_id: cell,
        modifiers: DnaModifiersOpt { network_seed: Some("room".into()), properties: None },
        membrane_proof: None,
        name: None,
    };
    assert_eq!(decode::<CreateCloneCellInput>(&encode(&made).unwrap()).unwrap(), made);
}
