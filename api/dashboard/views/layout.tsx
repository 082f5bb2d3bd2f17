import type { Child, FC, PropsWithChildren } from 'hono/jsx'

/** What every signed-in page needs to draw links and forms. */
export interface Page {
  /** Where the dashboard is mounted, e.g. `/dashboard`. */
  base: string
  /** This sign-in's CSRF token, put into every form. */
  csrf: string
  /** Request time, ms since the epoch (relative times). */
  now: number
}

export type Section = 'overview' | 'sessions' | 'messages' | 'send' | 'contacts' | 'webhooks'

const NAV: ReadonlyArray<readonly [Section, string, string]> = [
  ['overview', '', 'Overview'],
  ['sessions', '/sessions', 'Sessions'],
  ['messages', '/messages', 'Messages'],
  ['send', '/send', 'Send'],
  ['contacts', '/contacts', 'Contacts'],
  ['webhooks', '/webhooks', 'Webhooks'],
]

/** The hidden CSRF field every POST form carries. */
export const Csrf: FC<{ page: Page }> = ({ page }) => <input type="hidden" name="_csrf" value={page.csrf} />

export type NoticeKind = 'ok' | 'bad' | 'warn'
export interface Notice {
  kind: NoticeKind
  text: Child
}

export const NoticeBox: FC<{ notice: Notice | null | undefined }> = ({ notice }) =>
  notice ? (
    <div class={`notice ${notice.kind}`} role={notice.kind === 'bad' ? 'alert' : 'status'}>
      {notice.text}
    </div>
  ) : null

const Document: FC<PropsWithChildren<{ title: string; base: string; scripts?: string[] }>> = ({ title, base, scripts, children }) => (
  <html lang="en">
    <head>
      <meta charset="utf-8" />
      <meta name="viewport" content="width=device-width, initial-scale=1" />
      <meta name="referrer" content="same-origin" />
      <title>{`${title} · WA Gateway`}</title>
      <link rel="stylesheet" href={`${base}/assets/style.css`} />
      {(scripts ?? []).map((s) => (
        <script src={`${base}/assets/${s}`} defer></script>
      ))}
    </head>
    <body>{children}</body>
  </html>
)

/** The signed-in page frame: skip link, header with navigation and sign-out, then the page. */
export const Layout: FC<PropsWithChildren<{ page: Page; title: string; section?: Section; notice?: Notice | null; scripts?: string[] }>> = ({
  page,
  title,
  section,
  notice,
  scripts,
  children,
}) => (
  <Document title={title} base={page.base} scripts={scripts}>
    <a class="skip" href="#main">
      Skip to content
    </a>
    <header class="top">
      <div class="bar">
        <a class="brand" href={page.base}>
          WA Gateway
        </a>
        <nav aria-label="Dashboard">
          <ul>
            {NAV.map(([key, path, label]) => (
              <li>
                <a href={`${page.base}${path}`} aria-current={key === section ? 'page' : undefined}>
                  {label}
                </a>
              </li>
            ))}
          </ul>
        </nav>
        <form method="post" action={`${page.base}/sign-out`}>
          <Csrf page={page} />
          <button type="submit" class="link-button small">
            Sign out
          </button>
        </form>
      </div>
    </header>
    <main id="main" tabindex={-1}>
      <h1>{title}</h1>
      <NoticeBox notice={notice} />
      {children}
    </main>
  </Document>
)

/** The sign-in page has no navigation. */
export const BareLayout: FC<PropsWithChildren<{ base: string; title: string }>> = ({ base, title, children }) => (
  <Document title={title} base={base}>
    <main id="main">{children}</main>
  </Document>
)
