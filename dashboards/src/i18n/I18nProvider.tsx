// The language of a portal: chosen once per render of the provider (stored preference, else
// this device's last language, else the browser's), made active for `translate` and the date
// and number formats, set on <html lang>, and switchable (stored with the notification
// preferences, `PUT /api/notifications/preferences`). A switch remounts the portal below the
// provider so that every text is rendered again in the new language.

import { createContext, Fragment, useCallback, useContext, useEffect, useMemo, useState, type ReactNode } from 'react';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useSession } from '../ui/session';
import type { NotificationPreferences } from '../api/types';
import {
  activeLocale,
  browserLanguage,
  browserTags,
  languageOf,
  setActiveLanguage,
  translate,
  type Language,
  type MessageKey,
  type Vars,
} from './core';
import { storeLanguage } from './store';

const REMEMBERED = 'medilink.language';

export const PREFERENCES_KEY = ['notifications', 'preferences'] as const;

function remembered(): Language | undefined {
  try {
    return languageOf(window.localStorage.getItem(REMEMBERED));
  } catch {
    return undefined;
  }
}

function remember(lang: Language) {
  try {
    window.localStorage.setItem(REMEMBERED, lang);
  } catch {
    // Private mode: the browser's language next time.
  }
}

/** The language shown: the stored one, else this device's last, else the browser's. */
export function chooseLanguage(stored: Language | undefined, last: Language | undefined, tags: readonly string[]): Language {
  return stored ?? last ?? browserLanguage(tags);
}

export interface I18n {
  lang: Language;
  locale: string;
  t: (key: MessageKey, vars?: Vars) => string;
  /** Stores `lang` with the preferences (signed in) and switches to it. */
  setLanguage: (lang: Language) => Promise<void>;
  switching: boolean;
  switchError: unknown;
}

const I18nContext = createContext<I18n | null>(null);

export function I18nProvider({ children }: { children: ReactNode }) {
  const { client, user } = useSession();
  const queryClient = useQueryClient();
  const preferences = useQuery({
    queryKey: PREFERENCES_KEY,
    queryFn: () => client.notificationPreferences(),
    enabled: Boolean(user),
    retry: false,
    staleTime: 60_000,
  });
  const [last, setLast] = useState(remembered);
  const stored = user ? preferences.data?.language : undefined;
  const lang = chooseLanguage(stored, last, browserTags());
  setActiveLanguage(lang);
  useEffect(() => {
    document.documentElement.lang = lang;
    if (stored) remember(stored);
  }, [lang, stored]);
  const save = useMutation({
    mutationFn: (next: Language) => storeLanguage(client, next),
    onSuccess: (saved: NotificationPreferences) => {
      remember(saved.language);
      setLast(saved.language);
      queryClient.setQueryData(PREFERENCES_KEY, saved);
    },
  });
  const setLanguage = useCallback(
    async (next: Language) => {
      if (!user) {
        // Signed out (the sign-in page): this device only.
        remember(next);
        setLast(next);
        return;
      }
      await save.mutateAsync(next);
    },
    [user, save],
  );
  const value = useMemo<I18n>(
    () => ({ lang, locale: activeLocale(), t: translate, setLanguage, switching: save.isPending, switchError: save.error }),
    [lang, setLanguage, save.isPending, save.error],
  );
  return (
    <I18nContext.Provider value={value}>
      <Fragment key={lang}>{children}</Fragment>
    </I18nContext.Provider>
  );
}

/** The active language; outside a provider (unit tests) English with `translate`. */
export function useI18n(): I18n {
  const context = useContext(I18nContext);
  return (
    context ?? {
      lang: 'en',
      locale: activeLocale(),
      t: translate,
      setLanguage: async () => {},
      switching: false,
      switchError: null,
    }
  );
}

/** The `t` of the active language. */
export function useT(): (key: MessageKey, vars?: Vars) => string {
  return useI18n().t;
}
