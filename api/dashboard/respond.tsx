import { pageOf, type DashboardContext, type DashboardShared } from './context.js'
import { ErrorPage } from './views/error.js'

/** A 404 page inside the signed-in frame (the API's own 404 answers JSON). */
export function notFoundPage(shared: DashboardShared, c: DashboardContext, text: string) {
  return c.html(<ErrorPage page={pageOf(shared, c)} base={shared.base} title="Not found" text={text} />, 404)
}
