/**
 * Rewrites URL-valued OData annotations in a JSON document without parsing it into values: the
 * scanner tokenizes the bytes (RFC 8259), knows whether each string is a property name or a value,
 * and replaces only the prefix of a string value that follows an annotation name. Every other byte
 * is copied as is, so big integers, decimals, record text and whitespace pass byte for byte.
 * Invalid JSON is returned unchanged. Linear in the body's length.
 */
import { startsWithPrefix, type PrefixMap } from './url-map.ts';

const QUOTE = 0x22;
const BACKSLASH = 0x5c;
const SLASH = 0x2f;
const AT = 0x40;

/** What the scanner expects next. */
const Expect = {
  Value: 0,
  ValueOrEnd: 1, // after '['
  KeyOrEnd: 2, // after '{'
  Key: 3, // after ',' in an object
  Colon: 4,
  CommaOrEnd: 5,
  Nothing: 6, // after the top-level value
} as const;
type Expect = (typeof Expect)[keyof typeof Expect];

/** Containers on the scanner's stack. */
const OBJECT = 0;
const ARRAY = 1;
/** An array that is the value of an annotation: its direct string elements are URLs too. */
const ANNOTATED_ARRAY = 2;

interface Edit {
  start: number;
  end: number;
  text: Buffer;
}

/** Set by scanString: whether the string it scanned held an '@' or an escape. */
let stringHasAt = false;
let stringHasEscape = false;

/**
 * Maps the prefix of every string value of an annotation `isAnnotation` accepts (or of the direct
 * string elements of an array-valued one, as collection-valued `@odata.bind`) from `map.from` to
 * `map.to`. Returns `json` itself when nothing changes or the document is not valid JSON.
 */
export function mapJsonAnnotations(
  json: Uint8Array,
  map: PrefixMap,
  isAnnotation: (name: string) => boolean,
): Uint8Array {
  const buf = Buffer.from(json.buffer, json.byteOffset, json.byteLength);
  const edits: Edit[] = [];
  const stack: number[] = [];
  let top = -1; // the innermost container, -1 at top level
  let expect: Expect = Expect.Value;
  let annotatedValue = false; // the value about to come follows an annotation name
  let i = buf.length >= 3 && buf[0] === 0xef && buf[1] === 0xbb && buf[2] === 0xbf ? 3 : 0; // RFC 8259 §8.1: a parser may ignore a BOM
  const n = buf.length;

  while (i < n) {
    const c = buf[i]!;
    if (c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09) {
      i++;
      continue;
    }
    if (c === QUOTE) {
      const end = scanString(buf, i);
      if (end < 0) return json;
      if (expect === Expect.Key || expect === Expect.KeyOrEnd) {
        annotatedValue =
          (stringHasAt || stringHasEscape) && isAnnotationName(buf, i, end, stringHasEscape, isAnnotation);
        expect = Expect.Colon;
      } else if (expect === Expect.Value || expect === Expect.ValueOrEnd) {
        if (annotatedValue || top === ANNOTATED_ARRAY) {
          const edit = mapStringPrefix(buf, i, end, map);
          if (edit) edits.push(edit);
        }
        annotatedValue = false;
        expect = top < 0 ? Expect.Nothing : Expect.CommaOrEnd;
      } else {
        return json;
      }
      i = end + 1;
      continue;
    }
    switch (c) {
      case 0x7b: // {
      case 0x5b: // [
        if (expect !== Expect.Value && expect !== Expect.ValueOrEnd) return json;
        stack.push(top);
        top = c === 0x7b ? OBJECT : annotatedValue ? ANNOTATED_ARRAY : ARRAY;
        annotatedValue = false;
        expect = c === 0x7b ? Expect.KeyOrEnd : Expect.ValueOrEnd;
        i++;
        continue;
      case 0x7d: // }
      case 0x5d: {
        // ]
        const closesObject = c === 0x7d;
        if (top < 0 || (top === OBJECT) !== closesObject) return json;
        if (expect !== Expect.CommaOrEnd && expect !== (closesObject ? Expect.KeyOrEnd : Expect.ValueOrEnd))
          return json;
        top = stack.pop()!;
        expect = top < 0 ? Expect.Nothing : Expect.CommaOrEnd;
        i++;
        continue;
      }
      case 0x3a: // :
        if (expect !== Expect.Colon) return json;
        expect = Expect.Value;
        i++;
        continue;
      case 0x2c: // ,
        if (expect !== Expect.CommaOrEnd) return json;
        expect = top === OBJECT ? Expect.Key : Expect.Value;
        i++;
        continue;
      default: {
        if (expect !== Expect.Value && expect !== Expect.ValueOrEnd) return json;
        const end = scanLiteral(buf, i);
        if (end < 0) return json;
        annotatedValue = false;
        expect = top < 0 ? Expect.Nothing : Expect.CommaOrEnd;
        i = end;
      }
    }
  }
  if (expect !== Expect.Nothing || edits.length === 0) return json;
  return applyEdits(buf, edits);
}

/** Index of the closing quote of the string opening at `start`, or -1 when the string is invalid. */
function scanString(buf: Buffer, start: number): number {
  let j = start + 1;
  const n = buf.length;
  stringHasAt = false;
  stringHasEscape = false;
  while (j < n) {
    const b = buf[j]!;
    if (b === QUOTE) return j;
    if (b === BACKSLASH) {
      stringHasEscape = true;
      const e = buf[j + 1];
      if (e === 0x75) {
        // \uXXXX
        for (let k = j + 2; k < j + 6; k++) if (k >= n || !isHex(buf[k]!)) return -1;
        j += 6;
        continue;
      }
      // " \ / b f n r t
      if (
        e !== QUOTE &&
        e !== BACKSLASH &&
        e !== SLASH &&
        e !== 0x62 &&
        e !== 0x66 &&
        e !== 0x6e &&
        e !== 0x72 &&
        e !== 0x74
      )
        return -1;
      j += 2;
      continue;
    }
    if (b < 0x20) return -1;
    if (b === AT) stringHasAt = true;
    j++;
  }
  return -1;
}

function isHex(b: number): boolean {
  return (b >= 0x30 && b <= 0x39) || (b >= 0x41 && b <= 0x46) || (b >= 0x61 && b <= 0x66);
}

const isDigit = (b: number | undefined) => b !== undefined && b >= 0x30 && b <= 0x39;

/** End (exclusive) of the `true`/`false`/`null` or number (RFC 8259 §6) at `start`, or -1. */
function scanLiteral(buf: Buffer, start: number): number {
  const c = buf[start];
  if (c === 0x74) return matches(buf, start, TRUE);
  if (c === 0x66) return matches(buf, start, FALSE);
  if (c === 0x6e) return matches(buf, start, NULL);
  let j = start;
  if (buf[j] === 0x2d) j++; // -
  if (buf[j] === 0x30)
    j++; // a leading 0 stands alone
  else if (isDigit(buf[j])) while (isDigit(buf[j])) j++;
  else return -1;
  if (buf[j] === 0x2e) {
    // .
    j++;
    if (!isDigit(buf[j])) return -1;
    while (isDigit(buf[j])) j++;
  }
  if (buf[j] === 0x65 || buf[j] === 0x45) {
    // e E
    j++;
    if (buf[j] === 0x2b || buf[j] === 0x2d) j++;
    if (!isDigit(buf[j])) return -1;
    while (isDigit(buf[j])) j++;
  }
  return isDelimiter(buf[j]) ? j : -1;
}

const TRUE = Buffer.from('true');
const FALSE = Buffer.from('false');
const NULL = Buffer.from('null');

function matches(buf: Buffer, start: number, word: Buffer): number {
  for (let k = 0; k < word.length; k++) if (buf[start + k] !== word[k]) return -1;
  return isDelimiter(buf[start + word.length]) ? start + word.length : -1;
}

/** What may follow a number or literal: the end, whitespace or structure (`,` `]` `}`). */
function isDelimiter(b: number | undefined): boolean {
  return (
    b === undefined || b === 0x20 || b === 0x0a || b === 0x0d || b === 0x09 || b === 0x2c || b === 0x5d || b === 0x7d
  );
}

/** Whether the property name between the quotes at `start` and `end` is a URL-valued annotation. */
function isAnnotationName(
  buf: Buffer,
  start: number,
  end: number,
  escaped: boolean,
  isAnnotation: (name: string) => boolean,
): boolean {
  const raw = buf.toString('utf8', start, end + 1);
  return isAnnotation(escaped ? (JSON.parse(raw) as string) : raw.slice(1, -1));
}

/**
 * The edit that maps the string value between the quotes at `start` and `end` when its decoded text
 * starts with `map.from`. The prefix is matched after decoding escapes (`\/` is a valid `/`); the
 * replacement escapes '/' as `\/` when the original prefix did, and the rest of the value is kept.
 */
function mapStringPrefix(buf: Buffer, start: number, end: number, map: PrefixMap): Edit | undefined {
  const want = map.from.length;
  if (end - start - 1 < want) return undefined;
  let decoded = '';
  let j = start + 1;
  let escapedSlash = false;
  while (decoded.length < want && j < end) {
    const b = buf[j]!;
    if (b !== BACKSLASH) {
      if (b >= 0x80) return undefined; // the prefix is ASCII (a serialized URL)
      decoded += String.fromCharCode(b);
      j++;
      continue;
    }
    const e = buf[j + 1]!;
    if (e === 0x75) {
      decoded += String.fromCharCode(parseInt(buf.toString('latin1', j + 2, j + 6), 16));
      j += 6;
    } else if (e === SLASH) {
      decoded += '/';
      escapedSlash = true;
      j += 2;
    } else {
      return undefined; // a quote, backslash or control character cannot be part of a URL prefix
    }
  }
  if (decoded.length !== want || !startsWithPrefix(decoded, map)) return undefined;
  const escaped = JSON.stringify(map.to).slice(1, -1);
  return {
    start: start + 1,
    end: j,
    text: Buffer.from(escapedSlash ? escaped.replaceAll('/', '\\/') : escaped, 'utf8'),
  };
}

/** Copies `buf` with the (ordered, non-overlapping) edits applied. */
export function applyEdits(buf: Buffer, edits: readonly Edit[]): Buffer {
  const pieces: Buffer[] = [];
  let at = 0;
  for (const edit of edits) {
    pieces.push(buf.subarray(at, edit.start), edit.text);
    at = edit.end;
  }
  pieces.push(buf.subarray(at));
  return Buffer.concat(pieces);
}

export type { Edit as ByteEdit };
