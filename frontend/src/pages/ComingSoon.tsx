export function ComingSoon({ title }: { title: string }) {
  return (
    <section aria-labelledby="coming-soon-title">
      <div className="page-header">
        <h1 id="coming-soon-title">{title}</h1>
      </div>
      <div className="notice" role="status">
        <p>
          <strong>Coming soon.</strong> The server does not offer this yet.
        </p>
      </div>
    </section>
  );
}
