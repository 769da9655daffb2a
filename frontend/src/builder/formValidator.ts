/** The JSON Schema validator generated forms use: Draft 2020-12, as components declare. */
import { customizeValidator } from "@rjsf/validator-ajv8";
import Ajv2020 from "ajv/dist/2020";

export const formValidator = customizeValidator({ AjvClass: Ajv2020, ajvOptionsOverrides: { strict: false } });
