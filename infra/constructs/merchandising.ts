import { RemovalPolicy } from 'aws-cdk-lib';
import type { TableV2 } from 'aws-cdk-lib/aws-dynamodb';
import { Construct } from 'constructs';
import { ENV } from '../../functions/contract/environment';
import { DEFAULT_RULES_CACHE_MS, RULES_FRESHNESS_MS } from '../../functions/contract/rules';
import { RULES_TABLE } from '../../functions/contract/storage';
import { tableFromDefinition } from './data-tables';
import type { LookalikeFunction } from './lookalike-function';

export interface MerchandisingProps {
  /** @default RemovalPolicy.RETAIN */
  readonly removalPolicy?: RemovalPolicy;
  /**
   * How long a recommend instance reuses the rules it read before checking their version (one GetItem
   * per period per instance). At most 5000: a change is served everywhere within 5 s. @default 4000
   */
  readonly rulesCacheMs?: number;
}

/**
 * Merchandising rules (issue 20): the Rules table, managed by admins through `/rules` (served by the
 * track function) and read by the recommend function, which applies them to the lists.
 */
export class Merchandising extends Construct {
  public readonly table: TableV2;
  public readonly rulesCacheMs: number;

  constructor(scope: Construct, id: string, props: MerchandisingProps = {}) {
    super(scope, id);
    this.rulesCacheMs = props.rulesCacheMs ?? DEFAULT_RULES_CACHE_MS;
    if (
      !Number.isInteger(this.rulesCacheMs) ||
      this.rulesCacheMs < 1 ||
      this.rulesCacheMs > RULES_FRESHNESS_MS
    )
      throw new Error(
        `Merchandising: rulesCacheMs must be a whole number of ms from 1 to ${RULES_FRESHNESS_MS} (a rule change is served within 5 s), got ${this.rulesCacheMs}`,
      );
    this.table = tableFromDefinition(this, RULES_TABLE, props.removalPolicy ?? RemovalPolicy.RETAIN);
  }

  /**
   * The function serving `/rules` reads the rules and changes them: each change is one transaction of
   * the rule's row and the set's row (a Put, Update or Delete with an Update).
   */
  manageFrom(fn: LookalikeFunction): void {
    fn.useTable(this.table, ENV.RULES_TABLE, ['GetItem', 'Query', 'PutItem', 'UpdateItem', 'DeleteItem']);
  }

  /** The recommend function reads the set's version (GetItem) and, when it moved, every rule (Query). */
  readFrom(fn: LookalikeFunction): void {
    fn.useTable(this.table, ENV.RULES_TABLE, ['GetItem', 'Query']);
    fn.function.addEnvironment(ENV.RULES_CACHE_MS, String(this.rulesCacheMs));
  }
}
