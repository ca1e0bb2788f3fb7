import { describe, expect, it } from 'vitest';
import { gridLines, offlineStyle, vehicleLayers } from './style';

describe('offline style', () => {
  it('needs no network: no tiles, sprite, glyphs or URLs of any kind', () => {
    const style = offlineStyle([-74.07, 4.71]);
    expect(style.sprite).toBeUndefined();
    expect(style.glyphs).toBeUndefined();
    expect(JSON.stringify(style)).not.toMatch(/https?:|mapbox:|\.pbf|tiles/);
    for (const source of Object.values(style.sources)) expect(source.type).toBe('geojson');
  });

  it('vehicle layers draw no text (text would need a glyph server)', () => {
    for (const layer of vehicleLayers) {
      const layout = (layer as { layout?: Record<string, unknown> }).layout ?? {};
      expect(layout['text-field']).toBeUndefined();
    }
  });

  it('lays a grid around the centre with every fifth line major', () => {
    const grid = gridLines([-74, 4.7], 0.01, 0.002);
    // 2·(0.01/0.002)+1 = 11 positions, each with one north-south and one east-west line.
    expect(grid.features).toHaveLength(22);
    expect(grid.features.filter((f) => f.properties.major)).toHaveLength(6);
    const lons = grid.features.flatMap((f) => f.geometry.coordinates.map((c) => c[0]!));
    expect(Math.min(...lons)).toBeCloseTo(-74.01);
    expect(Math.max(...lons)).toBeCloseTo(-73.99);
  });
});
