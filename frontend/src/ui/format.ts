const DATE = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "short" });

export function formatDate(iso: string): string {
  return DATE.format(new Date(iso));
}

/** Recommended models as comma-separated text (entries that are not names shown as JSON). */
export function modelsText(models: unknown[] | undefined): string {
  return (models ?? []).map((model) => (typeof model === "string" ? model : JSON.stringify(model))).join(", ");
}
