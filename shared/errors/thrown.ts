/** The `name` of a thrown value, when it has a string one (anything may be thrown, not only Errors). */
export function thrownName(err: unknown): string | undefined {
  const name = (err as { name?: unknown } | null | undefined)?.name;
  return typeof name === 'string' ? name : undefined;
}

/** The `cause` of a thrown value, if it has one. */
export function thrownCause(err: unknown): unknown {
  return (err as { cause?: unknown } | null | undefined)?.cause;
}
