/** A CodeMirror 6 editor as a form control: Python, SQL, JSON, prompt templates, expressions or
 * plain multi-line text. Labelled like an input (aria-labelledby), so a label names it for
 * screen readers and tests alike; expressions stay on one line and offer completions. */
import {
  autocompletion,
  closeBrackets,
  closeBracketsKeymap,
  completionKeymap,
  type CompletionSource,
} from "@codemirror/autocomplete";
import { defaultKeymap, history, historyKeymap, indentWithTab } from "@codemirror/commands";
import { json } from "@codemirror/lang-json";
import { jinja } from "@codemirror/lang-jinja";
import { python } from "@codemirror/lang-python";
import { PostgreSQL, sql } from "@codemirror/lang-sql";
import {
  bracketMatching,
  defaultHighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from "@codemirror/language";
import { EditorState, type Extension } from "@codemirror/state";
import { EditorView, keymap, placeholder as placeholderText } from "@codemirror/view";
import { useEffect, useRef } from "react";

export type EditorLanguage = "python" | "sql" | "json" | "template" | "expression" | "text";

export interface CodeEditorProps {
  id: string;
  value: string;
  onChange: (value: string) => void;
  language: EditorLanguage;
  /** The id of the element that names the editor (its label). */
  labelledBy: string;
  describedBy?: string;
  invalid?: boolean;
  placeholder?: string;
  /** Completions (expressions: input., vars., nodes.<id>.output). */
  completions?: CompletionSource;
  onBlur?: () => void;
  readOnly?: boolean;
}

function languageOf(language: EditorLanguage): Extension[] {
  switch (language) {
    case "python":
      return [python(), indentOnInput(), indentUnit.of("    ")];
    case "sql":
      return [sql({ dialect: PostgreSQL })];
    case "json":
      return [json()];
    case "template":
      return [jinja()];
    default:
      return [];
  }
}

/** Expressions are one line: Enter never adds a line, and pasted line breaks become spaces. */
const singleLine: Extension = EditorState.transactionFilter.of((transaction) => {
  if (!transaction.docChanged || transaction.newDoc.lines === 1) return transaction;
  const text = transaction.newDoc.toString().replace(/\s*\n\s*/g, " ");
  return [
    transaction,
    {
      changes: { from: 0, to: transaction.newDoc.length, insert: text },
      selection: { anchor: Math.min(transaction.newSelection.main.head, text.length) },
      sequential: true,
    },
  ];
});

const theme = EditorView.theme({
  "&": { fontSize: "0.85rem", backgroundColor: "var(--surface)" },
  ".cm-content": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" },
  ".cm-scroller": { fontFamily: "ui-monospace, SFMono-Regular, Menlo, monospace" },
});

export function CodeEditor(props: CodeEditorProps) {
  const host = useRef<HTMLDivElement>(null);
  const view = useRef<EditorView | null>(null);
  const latest = useRef(props);
  latest.current = props;

  useEffect(() => {
    const { language, completions, labelledBy, describedBy, id, placeholder, readOnly } = latest.current;
    const oneLine = language === "expression";
    const extensions: Extension[] = [
      history(),
      closeBrackets(),
      bracketMatching(),
      syntaxHighlighting(defaultHighlightStyle, { fallback: true }),
      keymap.of([
        ...closeBracketsKeymap,
        ...completionKeymap,
        // One line: Enter (when no completion is open to accept) does nothing.
        ...(oneLine ? [{ key: "Enter", run: () => true }] : []),
        ...defaultKeymap,
        ...historyKeymap,
        ...(oneLine ? [] : [indentWithTab]),
      ]),
      ...languageOf(language),
      theme,
      EditorView.contentAttributes.of({
        id,
        "aria-labelledby": labelledBy,
        ...(describedBy ? { "aria-describedby": describedBy } : {}),
        "aria-multiline": oneLine ? "false" : "true",
        role: "textbox",
      }),
      EditorView.updateListener.of((update) => {
        if (update.docChanged) latest.current.onChange(update.state.doc.toString());
        if (update.focusChanged && !update.view.hasFocus) latest.current.onBlur?.();
      }),
    ];
    if (oneLine) extensions.push(singleLine);
    else extensions.push(EditorView.lineWrapping);
    if (completions) extensions.push(autocompletion({ override: [completions], activateOnTyping: true }));
    if (placeholder) extensions.push(placeholderText(placeholder));
    if (readOnly) extensions.push(EditorState.readOnly.of(true));
    const editor = new EditorView({
      parent: host.current!,
      state: EditorState.create({ doc: latest.current.value, extensions }),
    });
    view.current = editor;
    return () => {
      editor.destroy();
      view.current = null;
    };
    // The editor is made once per language; later props are read through `latest`.
  }, [props.language]);

  // A value changed from outside (undo in the builder, a reload) replaces the text.
  useEffect(() => {
    const editor = view.current;
    if (!editor) return;
    const current = editor.state.doc.toString();
    if (current !== props.value) {
      editor.dispatch({ changes: { from: 0, to: current.length, insert: props.value } });
    }
  }, [props.value]);

  return (
    <div
      ref={host}
      className={`code-editor nokey nowheel code-editor-${props.language}${props.invalid ? " invalid" : ""}`}
      data-testid={`editor-${props.id}`}
    />
  );
}
