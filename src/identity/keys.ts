import { parsePhoneNumberFromString, type CountryCode } from 'libphonenumber-js';

/** Which profile fields identify a person, and which values identify nobody. */
export interface IdentitySettings {
  /** Profile paths (`pii.email`, `data.contact.phone.main`), each compared after normalisation. */
  keys: readonly string[];
  /** Values refused as keys once normalised (compared lower-cased): `unknown`, `test@test.com`… */
  placeholders: readonly string[];
  /** The most profiles one merge may join; a merge that would join more is refused and recorded. */
  maxMergeProfiles: number;
  /** Country of phone numbers written without one (ISO 3166 alpha-2); without it those stay as written. */
  phoneCountry?: string;
}

/** One identity value a profile holds: the path it sits at, normalised. */
export interface IdentityKey {
  key: string;
  value: string;
}

type Kind = 'email' | 'phone' | 'id';

/** A path names its kind: `…email…` is compared as an email, `…phone…` as a phone number, anything else as given. */
function kindOf(path: string): Kind {
  const lower = path.toLowerCase();
  if (lower.includes('email')) return 'email';
  if (lower.includes('phone')) return 'phone';
  return 'id';
}

function normalisePhone(raw: string, country: string | undefined): string {
  const parsed = parsePhoneNumberFromString(raw, country as CountryCode | undefined);
  if (parsed?.isValid()) return parsed.number;
  // Not a number the metadata knows: compare it without its punctuation, as people type it differently.
  return raw.replace(/[\s().-]/g, '');
}

/**
 * The longest value, normalised, that identifies a person (an email has at most 254 characters).
 * Values are claimed in a btree index, whose entries PostgreSQL caps at about 2.7 kB: a longer one
 * would fail the whole commit that claims it.
 */
export const MAX_IDENTITY_VALUE_LENGTH = 512;

/**
 * The value as compared, or undefined when it identifies nobody: not a string or number, empty,
 * whitespace, a placeholder, or longer than MAX_IDENTITY_VALUE_LENGTH. Emails are trimmed and
 * lower-cased, phones in E.164 where parseable.
 */
export function normaliseValue(path: string, value: unknown, settings: IdentitySettings): string | undefined {
  if (typeof value !== 'string' && !(typeof value === 'number' && Number.isFinite(value))) return undefined;
  const raw = String(value).trim();
  if (raw === '' || isTooLongToIdentify(raw)) return undefined;
  const kind = kindOf(path);
  const normalised =
    kind === 'email' ? raw.toLowerCase() : kind === 'phone' ? normalisePhone(raw, settings.phoneCountry) : raw;
  if (normalised === '' || isTooLongToIdentify(normalised) || isPlaceholder(normalised, settings)) return undefined;
  return normalised;
}

/** Whether a value is too long to be an identity key, whatever else it is. */
export const isTooLongToIdentify = (value: unknown): boolean =>
  typeof value === 'string' && value.trim().length > MAX_IDENTITY_VALUE_LENGTH;

function isPlaceholder(value: string, settings: IdentitySettings): boolean {
  const lower = value.toLowerCase();
  return settings.placeholders.some((placeholder) => placeholder.toLowerCase() === lower);
}

/** Reads `a.b.c` in a plain object; undefined when any step is missing. */
export function readPath(document: unknown, path: string): unknown {
  let current = document;
  for (const part of path.split('.')) {
    if (current === null || typeof current !== 'object' || Array.isArray(current)) return undefined;
    current = (current as Record<string, unknown>)[part];
  }
  return current;
}

/** Writes `a.b.c` in a plain object, making the objects on the way (replacing a non-object in the way). */
export function writePath(document: Record<string, unknown>, path: string, value: unknown): void {
  const parts = path.split('.');
  let current = document;
  for (const part of parts.slice(0, -1)) {
    const next = current[part];
    if (next === null || typeof next !== 'object' || Array.isArray(next)) current[part] = {};
    current = current[part] as Record<string, unknown>;
  }
  current[parts[parts.length - 1]!] = value;
}

/** The normalised identity values at the given paths of a profile; a list holds one value per element. */
export function identityKeys(
  profile: Record<string, unknown>,
  settings: IdentitySettings,
  paths: readonly string[] = settings.keys,
): IdentityKey[] {
  return keysOfValues(
    paths.map((path) => [path, readPath(profile, path)]),
    settings,
  );
}

/** The normalised identity values among those found at key paths (`[path, value]`); a list holds one value per element. */
export function keysOfValues(
  values: readonly (readonly [string, unknown])[],
  settings: IdentitySettings,
): IdentityKey[] {
  const found = new Map<string, IdentityKey>();
  for (const [key, at] of values) {
    for (const candidate of Array.isArray(at) ? at : [at]) {
      const value = normaliseValue(key, candidate, settings);
      if (value !== undefined) found.set(`${key}\u0000${value}`, { key, value });
    }
  }
  return [...found.values()];
}
