// asl-validator 4 ships no types; this covers only what the template tests use.
declare module 'asl-validator' {
  interface AslValidation {
    isValid: boolean;
    errors: Array<{ 'Error code': string; Message: string }>;
    errorsText(separator?: string): string;
  }
  function validator(
    definition: unknown,
    options?: { checkPaths?: boolean; checkArn?: boolean },
  ): AslValidation;
  export = validator;
}
