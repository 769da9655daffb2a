/** The project and organization the user works in, chosen in the top bar. */
import { createContext, useCallback, useContext, useEffect, useState, type ReactNode } from "react";
import { api, type Page } from "../api/client";
import { hasRoute } from "../api/capabilities";
import type { Organization, Project } from "../api/types";

interface Workspace {
  projects: Project[];
  organizations: Organization[] | null;
  projectId: string | null;
  organizationId: string | null;
  setProjectId: (id: string | null) => void;
  setOrganizationId: (id: string | null) => void;
  createProject: (name: string) => Promise<Project>;
  /** Read the projects again (after a rename or a deletion elsewhere). */
  reloadProjects: () => void;
}

const WorkspaceContext = createContext<Workspace | null>(null);
const PROJECT_KEY = "wfb.project";
const ORGANIZATION_KEY = "wfb.organization";

export function WorkspaceProvider({ children }: { children: ReactNode }) {
  const [projects, setProjects] = useState<Project[]>([]);
  const [organizations, setOrganizations] = useState<Organization[] | null>(null);
  const [projectId, setProjectIdState] = useState<string | null>(() => localStorage.getItem(PROJECT_KEY));
  const [organizationId, setOrganizationIdState] = useState<string | null>(() =>
    localStorage.getItem(ORGANIZATION_KEY),
  );

  const setProjectId = useCallback((id: string | null) => {
    if (id) localStorage.setItem(PROJECT_KEY, id);
    else localStorage.removeItem(PROJECT_KEY);
    setProjectIdState(id);
  }, []);

  const setOrganizationId = useCallback((id: string | null) => {
    if (id) localStorage.setItem(ORGANIZATION_KEY, id);
    else localStorage.removeItem(ORGANIZATION_KEY);
    setOrganizationIdState(id);
  }, []);

  const [generation, setGeneration] = useState(0);
  const reloadProjects = useCallback(() => setGeneration((g) => g + 1), []);

  useEffect(() => {
    let current = true;
    api<Page<Project>>("/projects", { query: { limit: 200, sort: "name" } })
      .then((page) => {
        if (!current) return;
        setProjects(page.items);
        setProjectIdState((chosen) => (chosen && page.items.some((p) => p.id === chosen) ? chosen : null));
      })
      .catch(() => current && setProjects([]));
    hasRoute("/api/v1/organizations")
      .then(async (exists) => {
        if (!exists || !current) return;
        const page = await api<Page<Organization> | Organization[]>("/organizations", { query: { limit: 200 } });
        if (current) setOrganizations(Array.isArray(page) ? page : page.items);
      })
      .catch(() => current && setOrganizations([]));
    return () => {
      current = false;
    };
  }, [generation]);

  const createProject = useCallback(
    async (name: string) => {
      const project = await api<Project>("/projects", { method: "POST", body: { name } });
      setProjects((list) => [...list, project].sort((a, b) => a.name.localeCompare(b.name)));
      setProjectId(project.id);
      return project;
    },
    [setProjectId],
  );

  return (
    <WorkspaceContext.Provider
      value={{
        projects,
        organizations,
        projectId,
        organizationId,
        setProjectId,
        setOrganizationId,
        createProject,
        reloadProjects,
      }}
    >
      {children}
    </WorkspaceContext.Provider>
  );
}

export function useWorkspace(): Workspace {
  const workspace = useContext(WorkspaceContext);
  if (!workspace) throw new Error("useWorkspace outside WorkspaceProvider");
  return workspace;
}
