/** Workflows to start from: a blank one with its trigger, and runnable examples of the
 * product's main patterns. Each is a definition the compiler accepts as it is. */

export interface Template {
  key: string;
  title: string;
  description: string;
  /** What the template needs before a run can succeed, in plain words (none: runs as it is). */
  needs?: string;
  definition: Record<string, unknown>;
}

const manual = (input_schema?: Record<string, unknown>) => ({
  id: "trigger_1",
  type: "trigger",
  config: input_schema ? { kind: "manual", input_schema } : { kind: "manual" },
  position: { x: 250, y: 40 },
});

const at = (x: number, y: number) => ({ x: 250 + x, y: 40 + y });

export const BLANK: Template = {
  key: "blank",
  title: "Blank",
  description: "A manual trigger; add the steps yourself.",
  definition: { nodes: [manual()], edges: [] },
};

export const TEMPLATES: Template[] = [
  BLANK,
  {
    key: "http-transform-condition",
    title: "Fetch, shape and decide",
    description: "Calls an HTTP API, keeps the fields that matter, and branches on the answer.",
    needs: "The server's outbound access to https://example.com.",
    definition: {
      nodes: [
        manual(),
        {
          id: "fetch",
          type: "activity",
          component: { name: "http_request" },
          config: { method: "GET", url: "https://example.com/" },
          position: at(0, 130),
        },
        {
          id: "shape",
          type: "activity",
          component: { name: "transform" },
          input: { status: "nodes.fetch.output.status", size: "length(nodes.fetch.output.body)" },
          position: at(0, 260),
        },
        {
          id: "ok",
          type: "condition",
          config: { expression: "nodes.shape.output.status == `200`" },
          position: at(0, 390),
        },
        { id: "fetched", type: "end", config: { output: "nodes.shape.output" }, position: at(-140, 520) },
        { id: "refused", type: "end", config: { output: "nodes.shape.output" }, position: at(140, 520) },
      ],
      edges: [
        { id: "e1", source: "trigger_1", target: "fetch" },
        { id: "e2", source: "fetch", target: "shape" },
        { id: "e3", source: "shape", target: "ok" },
        { id: "e4", source: "ok", source_handle: "true", target: "fetched" },
        { id: "e5", source: "ok", source_handle: "false", target: "refused" },
      ],
    },
  },
  {
    key: "approval",
    title: "Human approval",
    description: "Waits for a person to approve or reject (the approve signal), for up to a day.",
    definition: {
      signals: [
        {
          name: "approve",
          description: "A person decides.",
          parameters: {
            type: "object",
            required: ["approved"],
            properties: { approved: { type: "boolean", title: "Approved" }, by: { type: "string", title: "By" } },
          },
        },
      ],
      nodes: [
        manual({ type: "object", properties: { request: { type: "string", title: "Request" } } }),
        {
          id: "approval",
          type: "wait_for_signal",
          config: { signal: "approve", timeout_seconds: 86400 },
          position: at(0, 130),
        },
        {
          id: "decided",
          type: "condition",
          config: { expression: "nodes.approval.output.payload.approved" },
          position: at(-140, 260),
        },
        {
          id: "approved",
          type: "end",
          config: { output: "{approved: `true`, request: input.request}" },
          position: at(-280, 390),
        },
        {
          id: "rejected",
          type: "end",
          config: { output: "{approved: `false`, request: input.request}" },
          position: at(0, 390),
        },
        { id: "expired", type: "end", config: { output: "'nobody answered'" }, position: at(140, 260) },
      ],
      edges: [
        { id: "e1", source: "trigger_1", target: "approval" },
        { id: "e2", source: "approval", source_handle: "received", target: "decided" },
        { id: "e3", source: "approval", source_handle: "timed_out", target: "expired" },
        { id: "e4", source: "decided", source_handle: "true", target: "approved" },
        { id: "e5", source: "decided", source_handle: "false", target: "rejected" },
      ],
    },
  },
  {
    key: "work-queue",
    title: "Work-queue consumer",
    description: "Takes orders from its work queue one by one as they are added, and handles each.",
    definition: {
      work_queues: [
        {
          name: "orders",
          priority: "fifo",
          work_item_schema: {
            type: "object",
            required: ["order"],
            properties: { order: { type: "string", title: "Order" } },
          },
        },
      ],
      nodes: [
        manual(),
        {
          id: "next_order",
          type: "work_queue",
          config: { queue: "orders", operation: "wait_for_item", timeout_seconds: 3600 },
          position: at(0, 130),
        },
        {
          id: "handle",
          type: "activity",
          component: { name: "transform" },
          input: { order: "nodes.next_order.output.item.order", handled: "`true`" },
          position: at(0, 260),
        },
        { id: "done", type: "end", config: { output: "nodes.handle.output" }, position: at(0, 390) },
      ],
      edges: [
        { id: "e1", source: "trigger_1", target: "next_order" },
        { id: "e2", source: "next_order", target: "handle" },
        { id: "e3", source: "handle", target: "done" },
      ],
    },
  },
  {
    key: "scheduled-report",
    title: "Scheduled report by e-mail",
    description: "Every weekday at 8:00 UTC, sums up and sends a report by e-mail.",
    needs: "A project connection named mail (SMTP settings) and a recipient in the send step.",
    definition: {
      nodes: [
        {
          id: "trigger_1",
          type: "trigger",
          config: { kind: "schedule", cron: "0 8 * * 1-5", timezone: "UTC" },
          position: at(0, 0),
        },
        {
          id: "summary",
          type: "activity",
          component: { name: "transform" },
          input: { text: "'Good morning: here is the daily report.'" },
          position: at(0, 130),
        },
        {
          id: "send",
          type: "activity",
          component: { name: "send_email" },
          config: { connection: "mail", subject: "Daily report" },
          input: { to: "['team@example.com']", text: "nodes.summary.output.text" },
          position: at(0, 260),
        },
        { id: "done", type: "end", position: at(0, 390) },
      ],
      edges: [
        { id: "e1", source: "trigger_1", target: "summary" },
        { id: "e2", source: "summary", target: "send" },
        { id: "e3", source: "send", target: "done" },
      ],
    },
  },
  {
    key: "agent-with-tool",
    title: "AI agent with a tool",
    description: "An agent answers a question and may call an HTTP tool to look things up.",
    needs: "A project secret named LLM_KEY with your model provider's API key; the tool reaches restcountries.com.",
    definition: {
      nodes: [
        manual({
          type: "object",
          required: ["question"],
          properties: { question: { type: "string", title: "Question" } },
        }),
        {
          id: "agent",
          type: "agent",
          component: { name: "llm_agent" },
          config: {
            model_provider: "openai",
            model: "gpt-4o-mini",
            api_key: { $secret: "LLM_KEY" },
            prompt: { prompt_content: "Answer briefly: {{ question }}" },
            // A tool is a component with its settings fixed; the model fills its input.
            tools: [
              {
                name: "country_facts",
                component: "http_request",
                config: { method: "GET", url: "https://restcountries.com/v3.1/name/{country}" },
                description: "Facts about a country (capital, population, languages): pass path_params.country.",
              },
            ],
          },
          input: { question: "input.question" },
          position: at(0, 130),
        },
        { id: "done", type: "end", config: { output: "nodes.agent.output" }, position: at(0, 260) },
      ],
      edges: [
        { id: "e1", source: "trigger_1", target: "agent" },
        { id: "e2", source: "agent", target: "done" },
      ],
    },
  },
  {
    key: "fan-out-join",
    title: "Fan-out and join",
    description: "Three steps run at once; the join waits for all of them, then the results are combined.",
    definition: {
      nodes: [
        manual(),
        ...["north", "south", "west"].map((region, index) => ({
          id: region,
          type: "activity",
          component: { name: "transform" },
          input: { region: `'${region}'`, total: `\`${(index + 1) * 100}\`` },
          position: at((index - 1) * 200, 130),
        })),
        { id: "join", type: "join", position: at(0, 260) },
        {
          id: "combine",
          type: "activity",
          component: { name: "transform" },
          input: { regions: "[nodes.north.output, nodes.south.output, nodes.west.output]" },
          position: at(0, 390),
        },
        { id: "done", type: "end", config: { output: "nodes.combine.output" }, position: at(0, 520) },
      ],
      edges: [
        ...["north", "south", "west"].flatMap((region) => [
          { id: `start-${region}`, source: "trigger_1", target: region },
          { id: `${region}-join`, source: region, target: "join" },
        ]),
        { id: "join-combine", source: "join", target: "combine" },
        { id: "combine-done", source: "combine", target: "done" },
      ],
    },
  },
];
