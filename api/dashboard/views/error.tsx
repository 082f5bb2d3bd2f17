import type { FC } from 'hono/jsx'
import { BareLayout, Layout, type Page } from './layout.js'

/** An error page: inside the frame when signed in, bare otherwise (refusals, outages). */
export const ErrorPage: FC<{ page?: Page | null; base: string; title: string; text: string }> = ({ page, base, title, text }) =>
  page ? (
    <Layout page={page} title={title}>
      <p class="card">{text}</p>
      <p>
        <a href={base}>Back to the overview</a>
      </p>
    </Layout>
  ) : (
    <BareLayout base={base} title={title}>
      <div class="signin">
        <h1>{title}</h1>
        <p class="card">{text}</p>
        <p>
          <a href={base}>Go to the dashboard</a>
        </p>
      </div>
    </BareLayout>
  )
