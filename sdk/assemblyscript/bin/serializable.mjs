// The @serializable transform (README.md, "Typed classes"): for every class marked
// `@serializable`, asc gets an `encode(e: Encoder): void` and a `static decode(d: Decoder)`
// that read and write the class as a msgpack map, the shape serde gives a Rust struct:
// one entry per field in declaration order, keyed by the field's name in snake_case
// (`createdAt` travels as `created_at`), nil for a null optional. Decoding skips unknown
// keys, reads a missing optional as null and flags any other missing field
// ("missing field `x`", as serde says). A class that declares encode or decode itself keeps
// its own.
//
// Field types: string, bool, i8–i64, u8–u64, f32, f64, Uint8Array (bin), HoloHash and its
// aliases (AgentPubKey, ActionHash, EntryHash, DnaHash, AnyDhtHash), arrays (T[] or
// Array<T>) of any of these, other classes with encode/static decode (other @serializable
// classes, the SDK's types), and `T | null` of the reference types.
//
// It also exports functions marked `@scheduled` as scheduled functions (see scheduled()
// below and docs/abi.md, "Scheduled functions").
//
// zomehost-asc applies it (it hands the transform the compiler it loaded). The generated
// code calls the SDK through names it adds to the file's `import … from "@zomehost/sdk"`.

const SDK = "@zomehost/sdk";
const INTS = { i8: "I8", i16: "I16", i32: "I32", i64: "I64", u8: "U8", u16: "U16", u32: "U32", u64: "U64" };
const FLOATS = { f32: "F32", f64: "F64", number: "F64" };
const HASHES = new Set(["HoloHash", "AgentPubKey", "ActionHash", "EntryHash", "DnaHash", "AnyDhtHash"]);
const HELPERS = {
  __zh_Encoder: "Encoder",
  __zh_Decoder: "Decoder",
  __zh_HoloHash: "HoloHash",
  __zh_writeArrayOf: "writeArrayOf",
  __zh_readArrayOf: "readArrayOf",
  __zh_blankOf: "blankOf",
  __zh_emptyMap: "emptyMap",
  __zh_scheduledFn: "scheduledFn",
};

/** `createdAt` -> `created_at` (names already in snake_case stay as they are). */
export function snakeCase(name) {
  return name.replace(/([a-z0-9])([A-Z])/g, "$1_$2").replace(/([A-Z])([A-Z][a-z])/g, "$1_$2").toLowerCase();
}

class FieldError extends Error {}

/** The transform, for the AssemblyScript module `as` (what `import("assemblyscript")` gives). */
export function serializableTransform(as) {
  const { NodeKind, Parser, Tokenizer, Source, SourceKind, Node } = as;

  function typeName(t) {
    let parts = [t.name.identifier.text];
    for (let n = t.name.next; n; n = n.next) parts.push(n.identifier.text);
    return parts.join(".");
  }

  /** The type's text, for the generated arrow functions' signatures. */
  function typeText(t) {
    if (t.kind !== NodeKind.NamedType) throw new FieldError("only named types are supported");
    const args = t.typeArguments && t.typeArguments.length ? `<${t.typeArguments.map(typeText).join(", ")}>` : "";
    return `${typeName(t)}${args}${t.isNullable ? " | null" : ""}`;
  }

  function elementOf(t) {
    const name = typeName(t);
    if ((name === "Array" || name === "StaticArray") && t.typeArguments && t.typeArguments.length === 1) {
      if (name === "StaticArray") throw new FieldError("StaticArray is not supported: use T[]");
      return t.typeArguments[0];
    }
    return null;
  }

  /** Statements writing value `x` of type `t` to encoder `e`. */
  function encodeOf(t, x) {
    if (t.kind !== NodeKind.NamedType) throw new FieldError("only named types are supported");
    const name = typeName(t);
    if (t.isNullable) {
      const inner = { ...t, isNullable: false, name: t.name, typeArguments: t.typeArguments, kind: t.kind };
      return `if (${x} === null) e.writeNil(); else { ${encodeOf(inner, `${x}!`)} }`;
    }
    if (name === "string") return `e.writeString(${x});`;
    if (name === "bool" || name === "boolean") return `e.writeBool(${x});`;
    if (name in INTS) return `e.write${INTS[name]}(${x});`;
    if (name in FLOATS) return `e.write${FLOATS[name]}(${x});`;
    if (name === "Uint8Array") return `e.writeBin(${x});`;
    const item = elementOf(t);
    if (item) {
      const it = typeText(item);
      return `__zh_writeArrayOf<${it}>(e, ${x}, (e: __zh_Encoder, v: ${it}): void => { ${encodeOf(item, "v")} });`;
    }
    return `${x}.encode(e);`; // a hash, a @serializable class, an SDK type
  }

  /** An expression reading a value of type `t` from decoder `d`. */
  function decodeOf(t) {
    const name = typeName(t);
    if (t.isNullable) {
      if (name === "string") return "d.readNullableString()";
      if (name === "Uint8Array") return "d.readNullableBin()";
      const inner = { ...t, isNullable: false, name: t.name, typeArguments: t.typeArguments, kind: t.kind };
      return `(d.tryReadNil() ? null : ${decodeOf(inner)})`;
    }
    if (name === "string") return "d.readString()";
    if (name === "bool" || name === "boolean") return "d.readBool()";
    if (name in INTS) return `d.read${INTS[name]}()`;
    if (name in FLOATS) return `d.read${FLOATS[name]}()`;
    if (name === "Uint8Array") return "d.readBin()";
    if (HASHES.has(name)) return "__zh_HoloHash.decode(d)";
    const item = elementOf(t);
    if (item) {
      const it = typeText(item);
      return `__zh_readArrayOf<${it}>(d, (d: __zh_Decoder): ${it} => ${decodeOf(item)})`;
    }
    return `${name}.decode(d)`;
  }

  /** The value a missing required field gets (the decoder has failed already). */
  function defaultOf(t) {
    const name = typeName(t);
    if (name === "string") return '""';
    if (name === "bool" || name === "boolean") return "false";
    if (name in INTS || name in FLOATS) return "0";
    if (name === "Uint8Array") return "new Uint8Array(0)";
    if (HASHES.has(name)) return "new __zh_HoloHash(new Uint8Array(0))";
    if (elementOf(t)) return `new Array<${typeText(elementOf(t))}>()`;
    return `${name}.decode(__zh_emptyMap())`; // its own fields' defaults, all the way down
  }

  function fieldsOf(cls) {
    const out = [];
    for (const m of cls.members) {
      if (m.kind !== NodeKind.FieldDeclaration) continue;
      if (m.flags & as.CommonFlags.Static) continue;
      const name = m.name.text;
      if (!m.type) throw new FieldError(`field ${name} needs a type annotation`);
      out.push({ name, key: snakeCase(name), type: m.type });
    }
    return out;
  }

  function generate(cls) {
    const name = cls.name.text;
    const fields = fieldsOf(cls);
    const keys = new Map();
    for (const f of fields) {
      if (keys.has(f.key)) throw new FieldError(`fields ${keys.get(f.key)} and ${f.name} both travel as "${f.key}"`);
      keys.set(f.key, f.name);
    }
    const enc = [`e.writeMapHeader(${fields.length});`];
    for (const f of fields) {
      try {
        enc.push(`e.writeString(${JSON.stringify(f.key)}); ${encodeOf(f.type, `this.${f.name}`)}`);
      } catch (err) {
        throw err instanceof FieldError ? new FieldError(`field ${f.name}: ${err.message}`) : err;
      }
    }
    const dec = [
      `const self = __zh_blankOf<${name}>();`,
      ...fields.map((_, i) => `let seen${i} = false;`),
      "const n = d.readMapHeader();",
      "for (let i: u32 = 0; i < n && d.ok; i++) {",
      "  const k = d.readString();",
      "  if (!d.ok) break;",
      ...fields.map((f, i) => `  ${i ? "else " : ""}if (k == ${JSON.stringify(f.key)}) { self.${f.name} = ${decodeOf(f.type)}; seen${i} = true; }`),
      `  ${fields.length ? "else " : ""}d.skip();`,
      "}",
      ...fields.map((f, i) =>
        f.type.isNullable
          ? `if (!seen${i}) self.${f.name} = null;`
          : `if (!seen${i}) { self.${f.name} = ${defaultOf(f.type)}; if (d.ok) d.fail("missing field \`${f.key}\`"); }`,
      ),
      "return self;",
    ];
    const members = [];
    const has = (n) => cls.members.some((m) => m.name && m.name.text === n);
    if (!has("encode")) members.push(`encode(e: __zh_Encoder): void { ${enc.join("\n")} }`);
    if (!has("decode")) members.push(`static decode(d: __zh_Decoder): ${name} { ${dec.join("\n")} }`);
    return members;
  }

  function parseMember(text, cls) {
    const path = cls.range.source.normalizedPath;
    const tn = new Tokenizer(new Source(SourceKind.User, path, text));
    const parser = new Parser();
    const member = parser.parseClassMember(tn, cls);
    if (!member || parser.diagnostics.length) {
      const why = parser.diagnostics.map((d) => d.message).join("; ");
      throw new Error(`@serializable ${cls.name.text}: generated code does not parse (${why}):\n${text}`);
    }
    return member;
  }

  function sdkImport(source) {
    for (const s of source.statements) {
      if (s.kind === NodeKind.Import && s.path && s.path.value === SDK && s.declarations) return s;
    }
    return null;
  }

  function addHelpers(imp) {
    const have = new Set(imp.declarations.map((d) => d.name.text));
    for (const [alias, name] of Object.entries(HELPERS)) {
      if (have.has(alias)) continue;
      const r = imp.range;
      imp.declarations.push(
        Node.createImportDeclaration(
          Node.createIdentifierExpression(name, r),
          Node.createIdentifierExpression(alias, r),
          r,
        ),
      );
    }
  }

  function isSerializable(dec) {
    return dec.name.kind === NodeKind.Identifier && dec.name.text === "serializable";
  }

  function isScheduled(dec) {
    return dec.name.kind === NodeKind.Identifier && dec.name.text === "scheduled";
  }

  function parseStatement(text, source) {
    const tn = new Tokenizer(new Source(SourceKind.User, source.normalizedPath, text));
    const parser = new Parser();
    const statement = parser.parseTopLevelStatement(tn);
    if (!statement || parser.diagnostics.length) {
      const why = parser.diagnostics.map((d) => d.message).join("; ");
      throw new Error(`generated code does not parse (${why}):\n${text}`);
    }
    return statement;
  }

  /**
   * `@scheduled export function tick(last: Schedule | null): Schedule | null` becomes the
   * ABI export `tick(ptr, len)` running it through scheduledFn, plus the
   * `__zh_schedulable_tick` marker export that lets schedule("tick") accept it.
   */
  function scheduled(fn, source) {
    const name = fn.name.text;
    const impl = `__zh_scheduled_${name}`;
    if (!(fn.flags & as.CommonFlags.Export)) throw new FieldError(`@scheduled ${name} must be exported`);
    fn.decorators = fn.decorators.filter((d) => !isScheduled(d));
    if (!fn.decorators.length) fn.decorators = null;
    fn.flags &= ~as.CommonFlags.Export;
    fn.name = Node.createIdentifierExpression(impl, fn.name.range);
    return [
      `export function ${name}(ptr: usize, len: usize): u64 { return __zh_scheduledFn(ptr, len, ${impl}, ${JSON.stringify(name)}); }`,
      `export function __zh_schedulable_${name}(): void {}`,
    ].map((text) => parseStatement(text, source));
  }

  return {
    afterParse(parser) {
      const errors = [];
      for (const source of parser.sources) {
        if (source.sourceKind !== SourceKind.User && source.sourceKind !== SourceKind.UserEntry) continue;
        const classes = [];
        const walk = (statements) => {
          for (const s of statements) {
            if (s.kind === NodeKind.ClassDeclaration && s.decorators && s.decorators.some(isSerializable)) classes.push(s);
            if (s.kind === NodeKind.NamespaceDeclaration) walk(s.members);
          }
        };
        walk(source.statements);
        const fns = source.statements.filter(
          (s) => s.kind === NodeKind.FunctionDeclaration && s.decorators && s.decorators.some(isScheduled),
        );
        if (!classes.length && !fns.length) continue;
        const imp = sdkImport(source);
        if (!imp) {
          errors.push(`${source.normalizedPath}: a file with @serializable classes or @scheduled functions must import from "${SDK}" by name (import { ... } from "${SDK}")`);
          continue;
        }
        addHelpers(imp);
        for (const fn of fns) {
          try {
            source.statements.push(...scheduled(fn, source));
          } catch (err) {
            if (!(err instanceof FieldError)) throw err;
            errors.push(`${source.normalizedPath}: ${err.message}`);
          }
        }
        for (const cls of classes) {
          cls.decorators = cls.decorators.filter((d) => !isSerializable(d));
          if (!cls.decorators.length) cls.decorators = null;
          if (cls.typeParameters && cls.typeParameters.length) {
            errors.push(`${source.normalizedPath}: @serializable ${cls.name.text}: generic classes are not supported`);
            continue;
          }
          if (cls.extendsType) {
            // its inherited fields would be left out of the map without a word
            errors.push(`${source.normalizedPath}: @serializable ${cls.name.text}: a class that extends another is not supported`);
            continue;
          }
          try {
            for (const text of generate(cls)) cls.members.push(parseMember(text, cls));
          } catch (err) {
            if (!(err instanceof FieldError)) throw err;
            errors.push(`${source.normalizedPath}: @serializable ${cls.name.text}: ${err.message}`);
          }
        }
      }
      if (errors.length) throw new Error(errors.join("\n"));
    },
  };
}
