import { synthesize } from '../support/synth';

describe('cdk-nag AwsSolutions', () => {
  const { nag } = synthesize();

  it('has no unacknowledged findings', () => {
    console.log(
      `cdk-nag: ${nag.violations.length} unacknowledged findings, ${nag.acknowledgements.length} acknowledgements`,
    );
    const findings = nag.violations.map(
      (v) => `${v.ruleName} on ${v.resources.join(', ')}: ${v.description.split('\n')[0]}`,
    );
    expect(findings).toEqual([]);
  });

  it('gives every acknowledgement a finding id and a real reason', () => {
    // aws-cdk-lib acknowledges some of its own CloudFormation lint warnings; ours are the cdk-nag ones.
    const ours = nag.acknowledgements.filter((a) => a.id.includes('AwsSolutions'));
    expect(ours.length).toBeGreaterThan(0);
    for (const acknowledgement of ours) {
      expect(acknowledgement.id).toMatch(/AwsSolutions-[A-Z0-9]+/);
      expect(acknowledgement.reason.length).toBeGreaterThan(30);
    }
  });
});
