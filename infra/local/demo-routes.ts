/**
 * Local-only routes for the demo page. The deployed API has no "list the catalogue" route (a shop has
 * its own catalogue pages); the demo needs one to show something to like, so it reads the items table.
 */

import type { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { DynamoDBDocumentClient, paginateScan } from '@aws-sdk/lib-dynamodb';
import type { APIGatewayProxyEventV2 } from 'aws-lambda';
import * as z from 'zod';
import { itemProjection } from '../../functions/adapters/dynamodb/item-table';
import { CatalogueReader, VIEW_ATTRIBUTES, type ViewRow } from '../../functions/adapters/dynamodb/item-views';
import type { ItemView } from '../../functions/app/ports';
import { ENV } from '../../functions/contract/environment';
import { describeIssues } from '../../functions/domain/event-schema';
import { json } from '../../functions/http/api';
import { dynamoClient, s3Client } from '../../functions/platform/clients';
import { requiredEnv } from '../../functions/platform/env';
import type { ExtraRoute } from './api-server';

export interface LocalCatalogueDeps {
  readonly dynamo: DynamoDBClient;
  readonly reader: CatalogueReader;
  readonly itemsTable: string;
}

export interface CataloguePage {
  /** Ready items matching the filter. */
  total: number;
  offset: number;
  limit: number;
  /** Every category of ready items, with counts, for a filter control. */
  categories: Array<{ category: string; count: number }>;
  items: ItemView[];
}

const CatalogueQuerySchema = z.strictObject({
  category: z.string().min(1).max(128).optional(),
  limit: z.coerce.number().int().min(1).max(500).default(100),
  offset: z.coerce.number().int().min(0).default(0),
});

/** Ready items in a stable order (category, title, id): a full scan, fine for a local catalogue. */
async function readyItems(deps: LocalCatalogueDeps): Promise<ViewRow[]> {
  const rows: ViewRow[] = [];
  const pages = paginateScan(
    { client: DynamoDBDocumentClient.from(deps.dynamo) },
    {
      TableName: deps.itemsTable,
      ...itemProjection(VIEW_ATTRIBUTES),
      FilterExpression: '#status = :ready',
      ExpressionAttributeValues: { ':ready': 'ready' },
    },
  );
  for await (const page of pages) rows.push(...((page.Items ?? []) as ViewRow[]));
  const text = (value: string | undefined) => value ?? '';
  return rows.sort(
    (a, b) =>
      text(a.category).localeCompare(text(b.category)) ||
      text(a.title).localeCompare(text(b.title)) ||
      a.itemId.localeCompare(b.itemId),
  );
}

export async function cataloguePage(
  deps: LocalCatalogueDeps,
  query: z.output<typeof CatalogueQuerySchema>,
): Promise<CataloguePage> {
  const rows = await readyItems(deps);
  const counts = new Map<string, number>();
  for (const row of rows) if (row.category) counts.set(row.category, (counts.get(row.category) ?? 0) + 1);
  const matching =
    query.category === undefined ? rows : rows.filter((row) => row.category === query.category);
  const slice = matching.slice(query.offset, query.offset + query.limit);
  const items = await Promise.all(slice.map((row) => deps.reader.toView(row)));
  return {
    total: matching.length,
    offset: query.offset,
    limit: query.limit,
    categories: [...counts].map(([category, count]) => ({ category, count })),
    items,
  };
}

/** Reads the tables and endpoints the local app put in the environment, as the functions do. */
const depsFromEnv = (): LocalCatalogueDeps => {
  const itemsTable = requiredEnv(ENV.ITEMS_TABLE);
  return {
    dynamo: dynamoClient(),
    reader: new CatalogueReader(dynamoClient(), s3Client(), itemsTable),
    itemsTable,
  };
};

/** `GET /local/catalogue?category=&limit=&offset=`: ready items with presigned image URLs. */
export function localCatalogueRoute(deps: () => LocalCatalogueDeps = depsFromEnv): ExtraRoute {
  let resolved: LocalCatalogueDeps | undefined;
  return {
    method: 'GET',
    path: '/local/catalogue',
    handler: async (event: APIGatewayProxyEventV2) => {
      const query = CatalogueQuerySchema.safeParse(event.queryStringParameters ?? {});
      if (!query.success) {
        return json(400, {
          code: 'invalid_query',
          message: describeIssues(query.error),
          requestId: event.requestContext.requestId,
        });
      }
      resolved ??= deps();
      return json(200, await cataloguePage(resolved, query.data));
    },
  };
}
