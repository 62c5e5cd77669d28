// Storing the language with the user's notification preferences (`PUT
// /api/notifications/preferences`, the rest of the preferences kept as they are).

import type { ApiClient } from '../api/client';
import type { NotificationPreferences } from '../api/types';
import type { Language } from './core';

/** Stores `lang` as the user's language (no write when it is stored already). */
export async function storeLanguage(client: ApiClient, lang: Language): Promise<NotificationPreferences> {
  const current = await client.notificationPreferences();
  if (current.language === lang) return current;
  return client.saveNotificationPreferences({ language: lang, quiet_hours: current.quiet_hours ?? null, kinds: current.kinds });
}
