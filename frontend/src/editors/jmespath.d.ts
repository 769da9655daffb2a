declare module "jmespath" {
  export interface AstNode {
    type: string;
    name?: string;
    value?: unknown;
    children?: AstNode[];
  }
  export function compile(expression: string): AstNode;
  export function search(data: unknown, expression: string): unknown;
}
