// How a person (a user id of the API) is named on a page: the name the API gives, else the
// signed-in user's own name when it is them, else the id as the last resort.

import { useCallback } from 'react';
import { useSession } from '../ui/session';
import type { UserView } from '../api/types';
import { translate as t } from '../i18n/core';

export function personLabel(id: string, name: string | null | undefined, me: UserView | null | undefined): string {
  if (name) return name;
  if (me && me.id === id) return me.name || t('people.you');
  return id;
}

export function usePersonLabel(): (id: string, name?: string | null) => string {
  const { user } = useSession();
  return useCallback((id: string, name?: string | null) => personLabel(id, name, user), [user]);
}
