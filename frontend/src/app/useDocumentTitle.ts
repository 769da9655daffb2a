/** The browser tab's title for the page shown: "<page> · Workflow Builder". */
import { useEffect } from "react";

const APP = "Workflow Builder";

export function useDocumentTitle(title: string | null | undefined): void {
  useEffect(() => {
    document.title = title ? `${title} · ${APP}` : APP;
  }, [title]);
}
