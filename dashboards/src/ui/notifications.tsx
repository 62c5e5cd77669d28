// Notifications in both portals: the bell of the header (unread count), the inbox page.

import { useInfiniteQuery, useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { Link, NavLink } from 'react-router-dom';
import { useClient, useLive } from './session';
import { Badge, Empty, ErrorMessage, FormError, Loading, PageTitle, isNotFound } from './components';
import { formatDateTime, userLocale } from '../fhir/format';
import { portalPath, type NotificationPage, type NotificationView, type Portal } from '../api/notifications';
import { translate as t } from '../i18n/core';

/** How often the bell asks for the unread count while live updates are down. */
export const POLL_MS = 30_000;

/** The accessible name of the bell. */
export function bellLabel(unread: number | undefined): string {
  if (!unread) return t('nav.notifications');
  return t('notices.bell', { count: unread });
}

/**
 * The unread count: refreshed when the socket tells of a notice (live updates), when the window
 * regains focus, and polled only while the socket is down.
 */
export function useUnreadCount() {
  const client = useClient();
  const live = useLive();
  return useQuery({
    queryKey: ['notifications', 'unread'],
    queryFn: async () => (await client.notifications(1)).unread,
    refetchInterval: live ? false : POLL_MS,
    refetchOnWindowFocus: 'always',
    retry: false,
  });
}

/** The header's link to the inbox with the unread count (no count at 0 or while unknown). */
export function NotificationBell() {
  const unread = useUnreadCount().data;
  return (
    <NavLink to="/notifications" className="bell" aria-label={bellLabel(unread)} data-testid="bell">
      <svg aria-hidden="true" focusable="false" width="20" height="20" viewBox="0 0 24 24">
        <path
          fill="currentColor"
          d="M12 22a2.5 2.5 0 0 0 2.45-2h-4.9A2.5 2.5 0 0 0 12 22Zm7-6V11a7 7 0 0 0-5.5-6.84V3a1.5 1.5 0 0 0-3 0v1.16A7 7 0 0 0 5 11v5l-2 2v1h18v-1Z"
        />
      </svg>
      {unread ? (
        <span className="bell-count" aria-hidden="true" data-testid="bell-count">
          {unread > 99 ? '99+' : unread}
        </span>
      ) : null}
    </NavLink>
  );
}

const PAGE_SIZE = 20;

/** The inbox: newest first, a page at a time. */
export function NotificationsPage({ portal }: { portal: Portal }) {
  const client = useClient();
  const queryClient = useQueryClient();
  const inbox = useInfiniteQuery({
    queryKey: ['notifications', 'inbox'],
    queryFn: ({ pageParam }) => client.notifications(PAGE_SIZE, pageParam),
    initialPageParam: null as string | null,
    getNextPageParam: (last: NotificationPage) => last.next ?? undefined,
    staleTime: 0,
  });
  const refresh = () => queryClient.invalidateQueries({ queryKey: ['notifications'] });
  const markRead = useMutation({ mutationFn: (id: string) => client.markNotificationRead(id), onSuccess: refresh });
  const markAll = useMutation({ mutationFn: () => client.markAllNotificationsRead(), onSuccess: refresh });
  const pages = inbox.data?.pages ?? [];
  const notices = pages.flatMap((page) => page.notifications);
  const unread = pages[0]?.unread ?? 0;
  const locale = userLocale();
  return (
    <>
      <PageTitle
        actions={
          <button type="button" onClick={() => markAll.mutate()} disabled={markAll.isPending || unread === 0}>
            {t('notices.markAll')}
          </button>
        }
      >
        {t('nav.notifications')}
      </PageTitle>
      {inbox.isPending ? (
        <Loading label={t('notices.loading')} />
      ) : inbox.isError && !inbox.data ? (
        isNotFound(inbox.error) ? (
          <Empty>{t('notices.unavailable')}</Empty>
        ) : (
          <ErrorMessage error={inbox.error} title={t('notices.failed')} />
        )
      ) : notices.length === 0 ? (
        <Empty>{t('notices.none')}</Empty>
      ) : (
        <>
          <p className="muted" role="status" data-testid="unread-summary">
            {unread === 0 ? t('notices.allRead') : t('notices.unread', { count: unread })}
          </p>
          <FormError error={markRead.error ?? markAll.error} />
          <ul className="notice-list" aria-label={t('nav.notifications')}>
            {notices.map((notice) => (
              <NoticeItem
                key={notice.id}
                notice={notice}
                portal={portal}
                locale={locale}
                busy={markRead.isPending && markRead.variables === notice.id}
                onRead={() => markRead.mutate(notice.id)}
              />
            ))}
          </ul>
          {inbox.hasNextPage ? (
            <button type="button" className="secondary" onClick={() => void inbox.fetchNextPage()} disabled={inbox.isFetchingNextPage}>
              {inbox.isFetchingNextPage ? t('common.loading') : t('notices.more')}
            </button>
          ) : null}
          {inbox.isFetchNextPageError ? <ErrorMessage error={inbox.error} title={t('notices.moreFailed')} /> : null}
        </>
      )}
    </>
  );
}

function NoticeItem({
  notice,
  portal,
  locale,
  busy,
  onRead,
}: {
  notice: NotificationView;
  portal: Portal;
  locale: string;
  busy: boolean;
  onRead: () => void;
}) {
  const unread = !notice.read_at;
  const titleId = `notice-${notice.id}-title`;
  return (
    <li
      className={unread ? 'notice notice-unread' : 'notice'}
      data-testid="notification"
      data-kind={notice.kind}
      data-read={unread ? 'false' : 'true'}
      aria-labelledby={titleId}
    >
      <div className="notice-head">
        {unread ? <Badge tone="info">{t('notices.unreadBadge')}</Badge> : <span className="visually-hidden">{t('notices.read')}</span>}
        <h2 className="notice-title" id={titleId}>
          <Link to={portalPath(notice.link, portal)} onClick={() => (unread ? onRead() : undefined)}>
            {notice.title}
          </Link>
        </h2>
        {notice.mandatory ? <Badge tone="warn">{t('notices.security')}</Badge> : null}
      </div>
      <p className="notice-body">{notice.body}</p>
      <div className="notice-foot">
        <time dateTime={notice.created_at} className="muted">
          {formatDateTime(notice.created_at, locale)}
        </time>
        {unread ? (
          <button type="button" className="link-button" onClick={onRead} disabled={busy}>
            {t('notices.markRead')}
            <span className="visually-hidden">: {notice.title}</span>
          </button>
        ) : null}
      </div>
    </li>
  );
}
