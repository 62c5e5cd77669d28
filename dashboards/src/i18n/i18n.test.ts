import { describe, expect, it } from 'vitest';
import {
  CATALOGUES,
  LANGUAGES,
  browserLanguage,
  interpolate,
  isMessageKey,
  languageOf,
  localeFor,
  pluralForm,
  translateIn,
  type MessageKey,
} from './core';
import { en } from './en';
import { chooseLanguage } from './I18nProvider';
import { endsWithin, formatRelative } from './relative';
import { storeLanguage } from './store';
import type { ApiClient } from '../api/client';
import type { NotificationPreferences, PreferencesInput } from '../api/types';

describe('choosing the language', () => {
  it('reads the language of a BCP 47 tag', () => {
    expect(languageOf('es-MX')).toBe('es');
    expect(languageOf('hi_IN')).toBe('hi');
    expect(languageOf('EN')).toBe('en');
    expect(languageOf('fr-FR')).toBeUndefined();
    expect(languageOf(null)).toBeUndefined();
  });

  it("takes the browser's first language the portals have, else English", () => {
    expect(browserLanguage(['fr-FR', 'es-AR', 'en'])).toBe('es');
    expect(browserLanguage(['de'])).toBe('en');
    expect(browserLanguage([])).toBe('en');
  });

  it("keeps the browser's region when it names one for the language", () => {
    expect(localeFor('en', ['en-GB', 'es-MX'])).toBe('en-GB');
    expect(localeFor('es', ['en-GB', 'es-MX'])).toBe('es-MX');
    expect(localeFor('hi', ['en-GB'])).toBe('hi-IN');
    expect(localeFor('es', [])).toBe('es-ES');
  });

  it('prefers the stored language, then the last one on this device, then the browser', () => {
    expect(chooseLanguage('hi', 'es', ['en-US'])).toBe('hi');
    expect(chooseLanguage(undefined, 'es', ['en-US'])).toBe('es');
    expect(chooseLanguage(undefined, undefined, ['es-CO'])).toBe('es');
    expect(chooseLanguage(undefined, undefined, ['ja'])).toBe('en');
  });
});

describe('messages', () => {
  it('falls back to English for a key a translation lacks', () => {
    const key = 'nav.summary' as MessageKey;
    const saved = CATALOGUES.es[key];
    delete CATALOGUES.es[key];
    try {
      expect(translateIn('es', 'es-ES', key)).toBe('Summary');
    } finally {
      CATALOGUES.es[key] = saved;
    }
    expect(translateIn('es', 'es-ES', key)).toBe('Resumen');
  });

  it('fills placeholders, numbers in the locale', () => {
    expect(interpolate('{n} of {total}', { n: 1234.5, total: 'all' }, 'en-US')).toBe('1,234.5 of all');
    expect(interpolate('{n}', { n: 1234.5 }, 'es-ES')).toBe('1234,5');
    expect(interpolate('{n}', { n: 1234567 }, 'hi-IN')).toBe('12,34,567');
    expect(interpolate('{missing} stays', {}, 'en')).toBe('{missing} stays');
  });

  it('chooses the plural form of the locale', () => {
    const message = { one: 'one thing', other: '{count} things' };
    expect(pluralForm(message, 1, 'en')).toBe('one thing');
    expect(pluralForm(message, 0, 'en')).toBe('{count} things');
    expect(pluralForm(message, 2, 'es')).toBe('{count} things');
    expect(pluralForm(message, undefined, 'en')).toBe('{count} things');
    expect(translateIn('en', 'en-US', 'timeline.count', { count: 1 })).toBe('1 entry shown');
    expect(translateIn('en', 'en-US', 'timeline.count', { count: 1200 })).toBe('1,200 entries shown');
    expect(translateIn('es', 'es-ES', 'timeline.count', { count: 3 })).toBe('3 entradas');
    // Hindi treats 0 and 1 as "one".
    expect(translateIn('hi', 'hi-IN', 'palette.count', { count: 1 })).toBe('1 सुझाव');
  });

  it('knows its keys', () => {
    expect(isMessageKey('nav.summary')).toBe(true);
    expect(isMessageKey('Summary')).toBe(false);
  });

  it('has every English message translated into Spanish and Hindi, placeholders kept', () => {
    const placeholders = (message: unknown) =>
      JSON.stringify(message)
        .match(/\{\w+\}/g)
        ?.filter((p) => p !== '{count}')
        .sort() ?? [];
    for (const lang of LANGUAGES.filter((l) => l !== 'en')) {
      const catalogue = CATALOGUES[lang];
      const missing = (Object.keys(en) as MessageKey[]).filter((key) => catalogue[key] === undefined);
      expect(missing, `${lang} lacks`).toEqual([]);
      for (const key of Object.keys(en) as MessageKey[]) {
        expect([...new Set(placeholders(catalogue[key]))], `${lang} ${key}`).toEqual([...new Set(placeholders(en[key]))]);
      }
      const extra = Object.keys(catalogue).filter((key) => !(key in en));
      expect(extra, `${lang} has keys English does not`).toEqual([]);
    }
  });
});

describe('relative times', () => {
  const now = new Date('2024-05-01T12:00:00Z');
  it('says how far an instant is, in the locale', () => {
    expect(formatRelative('2024-05-04T12:00:00Z', now, 'en')).toBe('in 3 days');
    expect(formatRelative('2024-05-01T10:00:00Z', now, 'en')).toBe('2 hours ago');
    expect(formatRelative('2024-05-02T12:00:00Z', now, 'es')).toBe('mañana');
    expect(formatRelative('2024-05-01T12:00:20Z', now, 'en')).toBe('this minute');
  });

  it('tells an end within some days', () => {
    expect(endsWithin('2024-05-05T00:00:00Z', now, 7)).toBe(true);
    expect(endsWithin('2024-06-01T00:00:00Z', now, 7)).toBe(false);
    expect(endsWithin('2024-04-01T00:00:00Z', now, 7)).toBe(false);
    expect(endsWithin(null, now, 7)).toBe(false);
  });
});

describe('storing the language', () => {
  const stored: NotificationPreferences = {
    language: 'en',
    quiet_hours: { start: '22:00', end: '07:00', timezone: 'UTC' },
    kinds: { 'results.filed': { in_app: true, email: false, mandatory: false } },
  };
  const fake = () => {
    const puts: PreferencesInput[] = [];
    const client = {
      notificationPreferences: async () => stored,
      saveNotificationPreferences: async (body: PreferencesInput) => {
        puts.push(body);
        return { ...stored, language: body.language } as NotificationPreferences;
      },
    } as unknown as ApiClient;
    return { client, puts };
  };

  it('keeps every other preference as stored', async () => {
    const { client, puts } = fake();
    expect((await storeLanguage(client, 'hi')).language).toBe('hi');
    expect(puts).toEqual([{ language: 'hi', quiet_hours: stored.quiet_hours, kinds: stored.kinds }]);
  });

  it('writes nothing when the language is stored already', async () => {
    const { client, puts } = fake();
    await storeLanguage(client, 'en');
    expect(puts).toEqual([]);
  });
});
