// The portals' languages: a typed message catalogue per language (en.ts is the reference,
// es.ts and hi.ts translate it), the active language and locale, `translate` with `{name}`
// placeholders and plural forms chosen by Intl.PluralRules, and how a language is chosen:
// the one stored with the user's preferences, else the last one used on this device, else
// the browser's. No framework: a missing translation falls back to English, a missing key is
// a type error.

import { en } from './en';
import { es } from './es';
import { hi } from './hi';

export type Language = 'en' | 'es' | 'hi';
export const LANGUAGES: readonly Language[] = ['en', 'es', 'hi'];

/** Plural forms of a message (Intl.PluralRules categories; `other` is required). */
export interface PluralMessage {
  zero?: string;
  one?: string;
  two?: string;
  few?: string;
  many?: string;
  other: string;
}
export type Message = string | PluralMessage;
export type MessageKey = keyof typeof en;
/** A translation: every key optional (English fills the gaps; a test lists what is missing). */
export type Catalogue = { [K in MessageKey]?: Message };

/** Whether `text` is a key of the catalogue. */
export function isMessageKey(text: string): text is MessageKey {
  return Object.prototype.hasOwnProperty.call(en, text);
}

export const CATALOGUES: Record<Language, Catalogue> = { en, es, hi };

/** The name of each language in itself (for the switch). */
export const LANGUAGE_NAMES: Record<Language, string> = { en: 'English', es: 'Español', hi: 'हिन्दी' };

/** The locale of each language when the browser names no region for it. */
const DEFAULT_LOCALES: Record<Language, string> = { en: 'en-US', es: 'es-ES', hi: 'hi-IN' };

/** The language of a BCP 47 tag (`es-MX` → `es`), if the portals have it. */
export function languageOf(tag: string | null | undefined): Language | undefined {
  const primary = tag?.trim().toLowerCase().split(/[-_]/)[0];
  return LANGUAGES.find((lang) => lang === primary);
}

/** The first of the browser's languages the portals have, else English. */
export function browserLanguage(tags: readonly string[]): Language {
  for (const tag of tags) {
    const lang = languageOf(tag);
    if (lang) return lang;
  }
  return 'en';
}

/**
 * The locale for dates and numbers in `lang`: the browser's own tag of that language (keeping
 * its region: `en-GB`, `es-MX`), else the language's default (`es-ES`, `hi-IN`).
 */
export function localeFor(lang: Language, tags: readonly string[]): string {
  return tags.find((tag) => languageOf(tag) === lang) ?? DEFAULT_LOCALES[lang];
}

export type Vars = Record<string, string | number>;

/** `message` with `{name}` replaced (numbers in the locale's digits and separators). */
export function interpolate(message: string, vars: Vars | undefined, locale: string): string {
  if (!vars) return message;
  return message.replace(/\{(\w+)\}/g, (whole, name: string) => {
    const value = vars[name];
    if (value === undefined) return whole;
    return typeof value === 'number' ? new Intl.NumberFormat(locale).format(value) : value;
  });
}

/** The form of `message` for `count` (`other` when the locale's category is missing). */
export function pluralForm(message: Message, count: number | undefined, locale: string): string {
  if (typeof message === 'string') return message;
  if (count === undefined) return message.other;
  const category = new Intl.PluralRules(locale).select(count) as keyof PluralMessage;
  return message[category] ?? message.other;
}

/** `key` in `lang` (English when that language lacks it), plural by `vars.count`. */
export function translateIn(lang: Language, locale: string, key: MessageKey, vars?: Vars): string {
  const message = CATALOGUES[lang][key] ?? en[key];
  const count = typeof vars?.count === 'number' ? vars.count : undefined;
  return interpolate(pluralForm(message, count, locale), vars, locale);
}

// ---- the active language (set by the I18nProvider before it renders the portal) --------------

const browserTags = (): readonly string[] =>
  typeof navigator !== 'undefined' ? (navigator.languages?.length ? navigator.languages : [navigator.language ?? 'en-US']) : ['en-US'];

let active: { lang: Language; locale: string } = { lang: 'en', locale: 'en-US' };

/** Makes `lang` the language of `translate` and `activeLocale` (the provider does this). */
export function setActiveLanguage(lang: Language, tags: readonly string[] = browserTags()): void {
  active = { lang, locale: localeFor(lang, tags) };
}

export function activeLanguage(): Language {
  return active.lang;
}

/** The locale of dates and numbers for the active language. */
export function activeLocale(): string {
  return active.locale;
}

/** `key` in the active language. */
export function translate(key: MessageKey, vars?: Vars): string {
  return translateIn(active.lang, active.locale, key, vars);
}

export { browserTags };
