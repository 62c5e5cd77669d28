// Queries and mutations of the admin pages.

import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useClient } from '../ui/session';
import type { AdminJob, AssignableRole, UserAction, UserView } from '../api/types';
import { translate as t } from '../i18n/core';

/** Whether a job is still moving (poll it). */
export function jobRunning(job: Pick<AdminJob, 'status'> | undefined): boolean {
  return job?.status === 'pending' || job?.status === 'processing';
}

/** A background job, polled every `interval` ms while it runs. */
export function useAdminJob(id: string | null | undefined, interval = 500) {
  const client = useClient();
  return useQuery({
    queryKey: ['admin', 'job', id],
    enabled: Boolean(id),
    queryFn: () => client.adminJob(id!),
    staleTime: 0,
    refetchInterval: (query) => (jobRunning(query.state.data) || !query.state.data ? interval : false),
  });
}

/** A user's action or role change; the user lists and details are read again afterwards. */
export function useUserChange() {
  const client = useClient();
  const queryClient = useQueryClient();
  return useMutation({
    mutationFn: (change: { user: UserView; action: UserAction } | { user: UserView; role: AssignableRole }) =>
      'action' in change ? client.userAction(change.user.id, change.action) : client.setRole(change.user.id, change.role),
    onSettled: () => {
      void queryClient.invalidateQueries({ queryKey: ['admin', 'users'] });
      void queryClient.invalidateQueries({ queryKey: ['admin', 'user'] });
      void queryClient.invalidateQueries({ queryKey: ['admin', 'stats'] });
    },
  });
}

/** What a user action is called on its button and in messages. */
export function actionLabel(action: UserAction): string {
  return t(`adm.action.${action}`);
}

/** The confirmation of an action done to `name` (`"Ada approved."`). */
export function actionDone(action: UserAction, name: string): string {
  return t(`adm.done.${action}`, { name });
}

/** The status changes an account in `status` allows (unlock is offered separately). */
export function statusActions(user: Pick<UserView, 'status'>): UserAction[] {
  switch (user.status) {
    case 'pending':
      return ['approve', 'suspend'];
    case 'active':
      return ['suspend'];
    case 'suspended':
      return ['reinstate'];
    default:
      return [];
  }
}

/** A user's name for messages (the e-mail when there is no name). */
export function userLabel(user: Pick<UserView, 'name' | 'email'>): string {
  return user.name?.trim() || user.email;
}
