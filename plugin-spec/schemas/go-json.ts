/**
 * Replies as dockerd reads them. Docker decodes every plugin reply with Go's encoding/json into
 * a struct (libnetwork drivers/remote/api, ipams/remote/api; pkg/plugins client.go uses
 * `json.NewDecoder(body).Decode`, without `DisallowUnknownFields`), which:
 * - matches an object key to a struct field exactly or, failing that, case-insensitively
 *   (`scope` and `SCOPE` fill `Scope`); when several keys land on one field the last one wins;
 * - ignores keys that match no field (a 20.10 dockerd reads `GwAllocChecker` as nothing);
 * - treats `null` for any field as "leave the zero value" (nil map/slice/pointer, "", false, 0),
 *   and a top-level `null` as an untouched, all-zero reply;
 * - does not fold the keys of a Go map (`Value`, `Data`, `Options`): those stay exact.
 * A reply schema built with `goStruct` (common.ts) first rewrites the object the way Go fills the
 * struct, then checks the values. Type errors still fail, as they make Go's decoder fail.
 */

/**
 * Go's case folding of field names (bytes.EqualFold, unicode simple folding). Besides ASCII
 * letters, the only characters that fold onto ASCII are the Kelvin sign (K, U+212A) and the
 * long s (ſ, U+017F); every field name here is ASCII, so nothing else can ever match.
 */
export function goFold(key: string): string {
  return key.replace(/\u212a/g, 'k').replace(/\u017f/g, 's').replace(/[A-Z]/g, (c) => c.toLowerCase());
}

/**
 * The object Go's decoder would see for a struct with `fields`: each key mapped onto its field
 * (exact match first, then folded), unknown keys and `null` values dropped, later keys winning.
 * A top-level `null` becomes `{}`; anything that is not an object is returned as is, so the
 * object schema refuses it (Go refuses it too).
 */
export function goStructView(value: unknown, fields: readonly string[]): unknown {
  if (value === null) return {};
  if (typeof value !== 'object' || Array.isArray(value)) return value;
  const exact = new Set(fields);
  const folded = new Map(fields.map((f) => [goFold(f), f]));
  const view: Record<string, unknown> = {};
  for (const [key, inner] of Object.entries(value as Record<string, unknown>)) {
    const field = exact.has(key) ? key : folded.get(goFold(key));
    if (field === undefined) continue;
    if (inner === null) delete view[field];
    else view[field] = inner;
  }
  return view;
}
