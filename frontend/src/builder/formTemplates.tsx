/** Buttons for generated forms' array fields, with visible text instead of icon-font glyphs. */
import type { IconButtonProps, TemplatesType } from "@rjsf/utils";

function textButton(text: string, className = "") {
  return function TextButton({
    iconType: _iconType,
    icon: _icon,
    uiSchema: _uiSchema,
    registry: _registry,
    className: extra,
    ...rest
  }: IconButtonProps) {
    return (
      <button type="button" className={`form-array-button ${className} ${extra ?? ""}`} {...rest}>
        {text}
      </button>
    );
  };
}

export const FORM_TEMPLATES: Partial<TemplatesType> = {
  ButtonTemplates: {
    AddButton: textButton("+ Add"),
    RemoveButton: textButton("Remove", "danger"),
    MoveUpButton: textButton("Up"),
    MoveDownButton: textButton("Down"),
    CopyButton: textButton("Copy"),
    ClearButton: textButton("Clear"),
    SubmitButton: () => null,
  },
};
