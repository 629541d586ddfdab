import type { MethodResult } from './evaluate';
import { METRICS } from './metrics';

/** Bar colours by method id: baselines in greys and orange, Lookalike in blue, ablations apart. */
const COLOURS: Record<string, string> = {
  random: '#c7c7c7',
  popular: '#8c8c8c',
  'mean-vector': '#f28e2b',
  lookalike: '#1f5fa8',
  'no-decay': '#76b7b2',
  'one-centroid': '#59a14f',
  'no-mmr': '#b07aa1',
  'no-co-engagement': '#edc948',
};

export interface ChartPanel {
  title: string;
  methods: MethodResult[];
}

const escapeXml = (text: string) =>
  text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

const BAR = 9;
const GROUP_GAP = 22;
const PLOT_HEIGHT = 200;
const LEFT = 44;
const PANEL_TOP = 34;
const PANEL_HEIGHT = PANEL_TOP + PLOT_HEIGHT + 44;

/** Grouped bars, one group per metric and one bar per method, one panel per run; all values in [0, 1]. */
export function groupedBarChart(panels: readonly ChartPanel[]): string {
  const methods = panels[0]?.methods ?? [];
  const groupWidth = methods.length * BAR + GROUP_GAP;
  const width = LEFT + METRICS.length * groupWidth + 16;
  const legendRows = Math.ceil(methods.length / 2);
  const height = panels.length * PANEL_HEIGHT + legendRows * 18 + 16;
  const parts: string[] = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="Helvetica, Arial, sans-serif" font-size="11">`,
    `<rect width="${width}" height="${height}" fill="#ffffff"/>`,
  ];
  panels.forEach((panel, p) => {
    const top = p * PANEL_HEIGHT;
    const y = (value: number) => top + PANEL_TOP + PLOT_HEIGHT * (1 - Math.max(0, Math.min(1, value)));
    parts.push(
      `<text x="${LEFT}" y="${top + 20}" font-size="13" font-weight="bold">${escapeXml(panel.title)}</text>`,
    );
    for (const tick of [0, 0.25, 0.5, 0.75, 1]) {
      parts.push(
        `<line x1="${LEFT}" x2="${width - 16}" y1="${y(tick)}" y2="${y(tick)}" stroke="${tick === 0 ? '#333333' : '#e5e5e5'}"/>`,
        `<text x="${LEFT - 6}" y="${y(tick) + 4}" text-anchor="end" fill="#555555">${tick.toFixed(2)}</text>`,
      );
    }
    METRICS.forEach((metric, m) => {
      const x0 = LEFT + m * groupWidth + GROUP_GAP / 2;
      panel.methods.forEach((method, i) => {
        const value = method.scores[metric.id];
        const barTop = y(value);
        parts.push(
          `<rect x="${x0 + i * BAR}" y="${barTop.toFixed(1)}" width="${BAR - 1}" height="${(y(0) - barTop).toFixed(1)}" fill="${COLOURS[method.id] ?? '#333333'}">` +
            `<title>${escapeXml(`${method.name}: ${metric.label} ${value.toFixed(3)}`)}</title></rect>`,
        );
      });
      parts.push(
        `<text x="${x0 + (methods.length * BAR) / 2}" y="${y(0) + 16}" text-anchor="middle">${escapeXml(metric.short)}</text>`,
      );
    });
  });
  const legendTop = panels.length * PANEL_HEIGHT + 4;
  methods.forEach((method, i) => {
    const x = LEFT + (i % 2) * 300;
    const y = legendTop + Math.floor(i / 2) * 18;
    parts.push(
      `<rect x="${x}" y="${y}" width="12" height="12" fill="${COLOURS[method.id] ?? '#333333'}"/>`,
      `<text x="${x + 18}" y="${y + 10}">${escapeXml(method.name)}</text>`,
    );
  });
  parts.push('</svg>');
  return `${parts.join('\n')}\n`;
}
