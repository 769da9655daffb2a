import { AuthProvider, useAuth } from "./app/auth";
import { matchPath, navigate, usePathname } from "./app/router";
import { Shell } from "./app/Shell";
import { WorkspaceProvider } from "./app/workspace";
import { useDocumentTitle } from "./app/useDocumentTitle";
import { ApiKeysPage } from "./pages/ApiKeysPage";
import { AuthPage } from "./pages/AuthPage";
import { AgentPromptsPage, ComponentsPage, TaskQueuesPage } from "./pages/CatalogPages";
import { ExecutionsPage } from "./pages/ExecutionsPage";
import { PromptEditorPage } from "./pages/PromptEditorPage";
import { ProjectPage, ProjectsPage } from "./pages/ProjectsPage";
import { SettingsPage } from "./pages/SettingsPage";
import { StatisticsPage } from "./pages/StatisticsPage";
import { WorkflowsPage } from "./pages/WorkflowsPage";
import { lazy, Suspense, useEffect } from "react";

// The canvas, its layout engine and the form generator load only when a workflow is opened.
const BuilderPage = lazy(() => import("./builder/BuilderPage").then((module) => ({ default: module.BuilderPage })));
// A run's page draws its graph with the same canvas library.
const ExecutionPage = lazy(() =>
  import("./executions/ExecutionPage").then((module) => ({ default: module.ExecutionPage })),
);

function Redirect({ to }: { to: string }) {
  useEffect(() => navigate(to, { replace: true }), [to]);
  return null;
}

const PAGE_TITLES: Record<string, string> = {
  "/workflows": "Workflows",
  "/components": "Components",
  "/agent-prompts": "Agent prompts",
  "/task-queues": "Task queues & workers",
  "/executions": "Executions",
  "/statistics": "Statistics",
  "/api-keys": "API keys",
  "/projects": "Projects",
  "/settings": "Settings",
  "/signin": "Sign in",
  "/signup": "Sign up",
};

/** Pages with a title of their own (a workflow's, a run's, a project's) set it themselves. */
function StaticTitle() {
  const pathname = usePathname().replace(/\/$/, "");
  useDocumentTitle(PAGE_TITLES[pathname] ?? null);
  return null;
}

function SignedInRoutes() {
  const pathname = usePathname();
  const builder = matchPath("/workflows/:id", pathname);
  const execution = matchPath("/executions/:id", pathname);
  const prompt = matchPath("/agent-prompts/:id", pathname);
  const project = matchPath("/projects/:id", pathname);
  if (project) {
    return (
      <Shell>
        <ProjectPage projectId={project.id} />
      </Shell>
    );
  }
  if (prompt) {
    return (
      <Shell>
        <PromptEditorPage promptId={prompt.id === "new" ? null : prompt.id} />
      </Shell>
    );
  }
  if (execution) {
    return (
      <Shell>
        <Suspense fallback={<p className="loading">Loading the run…</p>}>
          <ExecutionPage executionId={execution.id} />
        </Suspense>
      </Shell>
    );
  }
  if (builder) {
    return (
      <Shell compact>
        <Suspense fallback={<p className="builder-message">Loading the builder…</p>}>
          <BuilderPage workflowId={builder.id} />
        </Suspense>
      </Shell>
    );
  }
  const pages: Record<string, () => React.ReactNode> = {
    "/workflows": () => <WorkflowsPage />,
    "/components": () => <ComponentsPage />,
    "/agent-prompts": () => <AgentPromptsPage />,
    "/task-queues": () => <TaskQueuesPage />,
    "/executions": () => <ExecutionsPage />,
    "/statistics": () => <StatisticsPage />,
    "/api-keys": () => <ApiKeysPage />,
    "/projects": () => <ProjectsPage />,
    "/settings": () => <SettingsPage />,
  };
  const page = pages[pathname.replace(/\/$/, "")];
  if (!page) return <Redirect to="/workflows" />;
  return <Shell>{page()}</Shell>;
}

function Routes() {
  const { me, loading } = useAuth();
  const pathname = usePathname();
  if (loading) return <p className="loading">Loading…</p>;
  if (!me) {
    if (pathname === "/signup") return <AuthPage mode="signup" />;
    if (pathname !== "/signin") return <Redirect to={`/signin`} />;
    return <AuthPage mode="signin" />;
  }
  if (pathname === "/signin" || pathname === "/signup" || pathname === "/") return <Redirect to="/workflows" />;
  return (
    <WorkspaceProvider>
      <SignedInRoutes />
    </WorkspaceProvider>
  );
}

export function App() {
  return (
    <AuthProvider>
      <StaticTitle />
      <Routes />
    </AuthProvider>
  );
}
