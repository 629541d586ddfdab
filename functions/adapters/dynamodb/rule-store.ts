import { randomBytes } from 'node:crypto';
import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import {
  DynamoDBDocumentClient,
  GetCommand,
  QueryCommand,
  TransactWriteCommand,
  type TransactWriteCommandInput,
} from '@aws-sdk/lib-dynamodb';
import type { RuleSet, RuleSetReader } from '../../app/ports';
import { MAX_RULES, type Rule, type RuleDefinition } from '../../contract/rules';
import { Conflict, NotFound } from '../../domain/errors';
import { cancellationReasons, isCancelled } from './transaction-cancel';

/** The one partition of the Rules table (see RULES_TABLE): the set's row and one row per rule. */
const PARTITION = 'rules';
/** The set's row: its version (+1 on every change) and how many rules it holds. */
const SET_KEY = { pk: PARTITION, sk: '#set' };
const ruleKey = (ruleId: string) => ({ pk: PARTITION, sk: `rule#${ruleId}` });

interface RuleRow {
  pk: string;
  sk: string;
  ruleId: string;
  version: number;
  createdAt: number;
  updatedAt: number;
  /**
   * The definition as JSON text, not a map: DynamoDB's numbers stop at 1e-130, and a definition may
   * hold any double the contract allows (a share of 1e-200 would fail the write with a 500).
   */
  definition: string;
}

const ruleOf = (row: RuleRow): Rule => ({
  ...(JSON.parse(row.definition) as RuleDefinition),
  ruleId: row.ruleId,
  version: row.version,
  createdAt: row.createdAt,
  updatedAt: row.updatedAt,
});

/** Tries of one change whose transaction met another on the same item (see `transact`). */
const MAX_TRANSACTION_ATTEMPTS = 4;
type TransactItems = NonNullable<TransactWriteCommandInput['TransactItems']>;

/** A new rule id: `r-` and 16 random bytes in base64url. */
export const newRuleId = (): string => `r-${randomBytes(16).toString('base64url')}`;

/**
 * The merchandising rules in DynamoDB. Every change is one transaction of the rule's row and the
 * set's row (whose version moves by one), so readers tell "nothing changed" from one GetItem of the
 * set's row, and a whole read (one Query of the partition) sees the rules and the version together.
 */
export class RuleStore implements RuleSetReader {
  private readonly documents: DynamoDBDocumentClient;

  constructor(
    client: DynamoDBClient,
    private readonly table: string,
  ) {
    this.documents = DynamoDBDocumentClient.from(client, {
      marshallOptions: { removeUndefinedValues: true },
    });
  }

  /** The set's version (0 before the first rule): one strongly consistent GetItem. */
  async version(): Promise<number> {
    const { Item } = await this.documents.send(
      new GetCommand({
        TableName: this.table,
        Key: SET_KEY,
        ConsistentRead: true,
        ProjectionExpression: 'version',
      }),
    );
    return typeof Item?.version === 'number' ? Item.version : 0;
  }

  /** Every rule and the set's version, read together (one partition, strongly consistent). */
  async read(): Promise<RuleSet> {
    const rules: Rule[] = [];
    let version = 0;
    let start: Record<string, unknown> | undefined;
    do {
      const page = await this.documents.send(
        new QueryCommand({
          TableName: this.table,
          KeyConditionExpression: 'pk = :pk',
          ExpressionAttributeValues: { ':pk': PARTITION },
          ConsistentRead: true,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      for (const item of page.Items ?? []) {
        if (item.sk === SET_KEY.sk) version = Number(item.version ?? 0);
        else rules.push(ruleOf(item as RuleRow));
      }
      start = page.LastEvaluatedKey;
    } while (start);
    rules.sort((a, b) => a.createdAt - b.createdAt || (a.ruleId < b.ruleId ? -1 : 1));
    return { version, rules };
  }

  async get(ruleId: string): Promise<Rule | undefined> {
    const { Item } = await this.documents.send(
      new GetCommand({ TableName: this.table, Key: ruleKey(ruleId), ConsistentRead: true }),
    );
    return Item ? ruleOf(Item as RuleRow) : undefined;
  }

  /** Stores a new rule (409 `too_many_rules` once the set holds MAX_RULES). */
  async create(definition: RuleDefinition, now: number): Promise<Rule> {
    const row: RuleRow = {
      ...ruleKey(''),
      ruleId: newRuleId(),
      version: 1,
      createdAt: now,
      updatedAt: now,
      definition: JSON.stringify(definition),
    };
    row.sk = ruleKey(row.ruleId).sk;
    try {
      await this.transact([
        {
          Put: { TableName: this.table, Item: row, ConditionExpression: 'attribute_not_exists(pk)' },
        },
        {
          Update: {
            TableName: this.table,
            Key: SET_KEY,
            UpdateExpression: 'ADD version :one, #count :one SET updatedAt = :now',
            ConditionExpression: 'attribute_not_exists(#count) OR #count < :max',
            ExpressionAttributeNames: { '#count': 'count' },
            ExpressionAttributeValues: { ':one': 1, ':max': MAX_RULES, ':now': now },
          },
        },
      ]);
    } catch (error) {
      if (isCancelled(error) && cancellationReasons(error)[1]?.Code === 'ConditionalCheckFailed')
        throw new Conflict('too_many_rules', `a stack keeps at most ${MAX_RULES} rules: delete ended ones`, {
          maxRules: MAX_RULES,
        });
      throw error;
    }
    return ruleOf(row);
  }

  /** Replaces a rule's definition if its stored version is `expected` (else 409 `version_conflict`). */
  async update(ruleId: string, definition: RuleDefinition, expected: number, now: number): Promise<Rule> {
    try {
      await this.transact([
        {
          Update: {
            TableName: this.table,
            Key: ruleKey(ruleId),
            // DEFINITION is one of DynamoDB's reserved words: it needs a placeholder.
            UpdateExpression: 'SET #definition = :definition, version = :next, updatedAt = :now',
            ConditionExpression: 'attribute_exists(pk) AND version = :expected',
            ExpressionAttributeNames: { '#definition': 'definition' },
            ExpressionAttributeValues: {
              ':definition': JSON.stringify(definition),
              ':next': expected + 1,
              ':now': now,
              ':expected': expected,
            },
          },
        },
        this.bumpSet(now, 0),
      ]);
    } catch (error) {
      if (isCancelled(error) && cancellationReasons(error)[0]?.Code === 'ConditionalCheckFailed')
        throw await this.whyRefused(ruleId, expected);
      throw error;
    }
    // The rule as this write left it (a change since then is not this write's): only its creation
    // time is read back, and a rule deleted meanwhile keeps the time of this write.
    const createdAt = (await this.get(ruleId))?.createdAt ?? now;
    return { ...definition, ruleId, version: expected + 1, createdAt, updatedAt: now };
  }

  /** Deletes a rule (if `expected` is given, only at that version). */
  async delete(ruleId: string, expected: number | undefined, now: number): Promise<void> {
    try {
      await this.transact([
        {
          Delete: {
            TableName: this.table,
            Key: ruleKey(ruleId),
            ConditionExpression:
              expected === undefined
                ? 'attribute_exists(pk)'
                : 'attribute_exists(pk) AND version = :expected',
            ...(expected === undefined ? {} : { ExpressionAttributeValues: { ':expected': expected } }),
          },
        },
        this.bumpSet(now, -1),
      ]);
    } catch (error) {
      if (isCancelled(error) && cancellationReasons(error)[0]?.Code === 'ConditionalCheckFailed')
        throw await this.whyRefused(ruleId, expected);
      throw error;
    }
  }

  /**
   * One change's transaction. DynamoDB cancels a transaction that meets another one on the same item
   * (TransactionConflict: two admins' changes both write the set's row) and the SDK does not retry
   * that, so it is tried again here, a few times with jittered backoff; a refused condition is final.
   */
  private async transact(items: TransactItems): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.documents.send(new TransactWriteCommand({ TransactItems: items }));
        return;
      } catch (error) {
        const codes = isCancelled(error) ? cancellationReasons(error).map((reason) => reason.Code) : [];
        const conflicted = codes.includes('TransactionConflict') && !codes.includes('ConditionalCheckFailed');
        if (!conflicted || attempt >= MAX_TRANSACTION_ATTEMPTS) throw error;
        await new Promise((resolve) => setTimeout(resolve, 10 * 2 ** attempt * (0.5 + Math.random())));
      }
    }
  }

  private bumpSet(now: number, count: number) {
    return {
      Update: {
        TableName: this.table,
        Key: SET_KEY,
        UpdateExpression: 'ADD version :one, #count :count SET updatedAt = :now',
        ExpressionAttributeNames: { '#count': 'count' },
        ExpressionAttributeValues: { ':one': 1, ':count': count, ':now': now },
      },
    };
  }

  /** Why a conditional write of a rule was refused: it is gone (404), or at another version (409). */
  private async whyRefused(ruleId: string, expected: number | undefined): Promise<Error> {
    const stored = await this.get(ruleId);
    if (!stored) return new NotFound('rule', ruleId);
    return new Conflict(
      'version_conflict',
      `rule ${ruleId} is at version ${stored.version}, not ${expected}: read it again and reapply the change`,
      { ruleId, version: stored.version, expected },
    );
  }
}

export interface RuleCacheOptions {
  /** How long the rules read are reused before the set's version is checked. */
  ttlMs: number;
  now?: () => number;
  /** Told when a read fails: the rules last read keep serving (none before the first read). */
  onError?: (error: unknown) => void;
}

/**
 * The rules as one instance serves them: read once, then reused for `ttlMs`; after that, one GetItem
 * of the set's version says whether to read them again (a change is served within the TTL plus one
 * read). Never more than one read per TTL, however many requests: concurrent ones share it.
 */
export class RuleCache {
  private current: RuleSet | undefined;
  private checkedAt = Number.NEGATIVE_INFINITY;
  private pending: Promise<RuleSet | undefined> | undefined;
  private readonly now: () => number;

  constructor(
    private readonly store: RuleSetReader,
    private readonly options: RuleCacheOptions,
  ) {
    this.now = options.now ?? Date.now;
  }

  async rules(): Promise<readonly Rule[]> {
    if (this.current && this.now() - this.checkedAt < this.options.ttlMs) return this.current.rules;
    this.pending ??= this.refresh().finally(() => {
      this.pending = undefined;
    });
    return (await this.pending)?.rules ?? [];
  }

  private async refresh(): Promise<RuleSet | undefined> {
    const started = this.now();
    try {
      if (this.current && (await this.store.version()) === this.current.version) {
        this.checkedAt = started;
        return this.current;
      }
      this.current = await this.store.read();
      this.checkedAt = started;
      return this.current;
    } catch (error) {
      this.options.onError?.(error);
      // The rules last read serve another TTL; with none yet, the next request tries again.
      if (this.current) this.checkedAt = started;
      return this.current;
    }
  }
}
