/** The row a table shows while its rows load, so an empty table never looks broken. */
export function LoadingRow({ colSpan, what }: { colSpan: number; what: string }) {
  return (
    <tr>
      <td colSpan={colSpan} className="loading-row" role="status">
        <span className="spinner" aria-hidden="true" /> Loading {what}…
      </td>
    </tr>
  );
}
