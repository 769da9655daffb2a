/** Components grouped by type, and the built-in node types, to drag (or press Enter) onto the canvas. */
import { useState, type DragEvent } from "react";
import type { Component, ComponentType } from "../api/types";
import { Icon } from "../ui/Icon";
import { NODE_KINDS, type NodeType } from "./definition";

export const DRAG_TYPE = "application/x-workflow-node";

export interface PaletteItem {
  key: string;
  type: NodeType;
  title: string;
  description: string;
  icon: string;
  component?: Component;
}

export interface Group {
  title: string;
  items: PaletteItem[];
}

const CONTROL: NodeType[] = ["condition", "switch", "join", "for_each", "loop", "delay", "set_variable"];
const WAITING: NodeType[] = ["wait_for_signal", "work_queue", "child_workflow", "end"];

function builtin(type: NodeType): PaletteItem {
  const kind = NODE_KINDS[type];
  return { key: type, type, title: kind.title, description: kind.description, icon: kind.icon };
}

export function paletteGroups(components: Component[], types: ComponentType[]): Group[] {
  const iconOf = (name: string, fallback: string) => types.find((t) => t.name === name)?.icon ?? fallback;
  const fromComponents = (type: "activity" | "agent"): PaletteItem[] =>
    components
      .filter((c) => c.type === type && !c.deprecated)
      .map((c) => ({
        key: `component:${c.id}`,
        type,
        title: components.some((other) => other.name === c.name && other.id !== c.id)
          ? `${c.display_name} ${c.version}`
          : c.display_name,
        description: c.description || `${c.name}@${c.version}`,
        icon: iconOf(type, NODE_KINDS[type].icon),
        component: c,
      }));
  return [
    { title: "Triggers", items: [{ ...builtin("trigger"), icon: iconOf("trigger", "play") }] },
    { title: "Activities", items: fromComponents("activity") },
    { title: "Agents", items: fromComponents("agent") },
    { title: "Control flow", items: CONTROL.map(builtin) },
    {
      title: "Signals, queues and children",
      items: WAITING.map((t) =>
        t === "wait_for_signal" ? { ...builtin(t), icon: iconOf("signal", "radio") } : builtin(t),
      ),
    },
  ];
}

export function Palette({ groups: all, onAdd }: { groups: Group[]; onAdd: (item: PaletteItem) => void }) {
  const [search, setSearch] = useState("");
  const needle = search.trim().toLowerCase();
  const shown = all
    .map((group) => ({
      ...group,
      items: group.items.filter(
        (item) => !needle || `${item.title} ${item.description} ${item.type}`.toLowerCase().includes(needle),
      ),
    }))
    .filter((group) => group.items.length > 0 || (!needle && group.title !== "Agents"));

  const startDrag = (event: DragEvent, item: PaletteItem) => {
    event.dataTransfer.setData(DRAG_TYPE, item.key);
    event.dataTransfer.effectAllowed = "copy";
  };

  return (
    <aside className="palette" aria-label="Palette">
      <div className="palette-search">
        <Icon name="search" />
        <label htmlFor="palette-search" className="visually-hidden">
          Search the palette
        </label>
        <input
          id="palette-search"
          type="search"
          placeholder="Search nodes…"
          value={search}
          onChange={(event) => setSearch(event.target.value)}
        />
      </div>
      <p className="hint palette-hint">Drag onto the canvas, or press Enter to add.</p>
      {shown.map((group) => (
        <section key={group.title} className="palette-group" aria-label={group.title}>
          <h3>{group.title}</h3>
          {group.items.length === 0 && <p className="muted small">None yet: create one under Components.</p>}
          <ul>
            {group.items.map((item) => (
              <li key={item.key}>
                <button
                  type="button"
                  className="palette-item"
                  draggable
                  onDragStart={(event) => startDrag(event, item)}
                  onClick={() => onAdd(item)}
                  title={item.description}
                  data-testid={`palette-${item.component ? item.component.name : item.type}`}
                >
                  <Icon name={item.icon} />
                  <span>{item.title}</span>
                </button>
              </li>
            ))}
          </ul>
        </section>
      ))}
    </aside>
  );
}
