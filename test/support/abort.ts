/** What a fake `fetch` rejects with when its request is aborted: the signal's reason, as `fetch` does. */
export function abortReason(signal: AbortSignal | null | undefined): Error {
  const reason: unknown = signal?.reason;
  return reason instanceof Error ? reason : new DOMException('aborted', 'AbortError');
}
