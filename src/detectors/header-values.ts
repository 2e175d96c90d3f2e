/**
 * Request parameters that travel as HTTP headers (CustomAttributes as X-Amzn-SageMaker-Custom-Attributes, the other
 * imageProcessorParameters of an HTTP endpoint under their own names) are checked before any work: an invalid one
 * is otherwise refused by the HTTP client on every attempt of every tile, and reported as an unreachable model.
 */

/** Why `value` cannot be an HTTP header value, or null. Printable ASCII, space and tab: SageMaker's CustomAttributes are ASCII too. */
export function headerValueProblem(value: string): string | null {
  const bad = /[^\t\x20-\x7e]/.exec(value);
  if (!bad) return null;
  const c = bad[0];
  const code = c.codePointAt(0) ?? 0;
  const what = c === '\n' ? 'a newline' : c === '\r' ? 'a carriage return' : code < 0x20 || code === 0x7f ? `control character U+${code.toString(16).toUpperCase().padStart(4, '0')}` : `non-ASCII character ${JSON.stringify(c)}`;
  return `contains ${what} at character ${bad.index + 1}; an HTTP header value takes printable ASCII only`;
}

/** Why `name` cannot be an HTTP header name (an RFC 9110 token), or null. */
export function headerNameProblem(name: string): string | null {
  return /^[!#$%&'*+.^_`|~0-9A-Za-z-]+$/.test(name) ? null : 'is not a valid HTTP header name (letters, digits and !#$%&\'*+.^_`|~- only)';
}
