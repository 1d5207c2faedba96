/**
 * The few `Reflect` metadata functions that @peculiar/x509's dependency
 * injection container (tsyringe) checks for when it loads. The usual
 * polyfill package is not among our dependencies, and x509 only needs
 * metadata to be stored and read back, so a WeakMap suffices. Installed
 * only when missing, so a real polyfill always wins.
 */

type Target = object;
type Key = string | symbol | undefined;
const store = new WeakMap<Target, Map<Key, Map<unknown, unknown>>>();

function own(target: Target, property: Key, create: boolean): Map<unknown, unknown> | undefined {
  let byProperty = store.get(target);
  if (!byProperty) {
    if (!create) return undefined;
    byProperty = new Map();
    store.set(target, byProperty);
  }
  let values = byProperty.get(property);
  if (!values && create) {
    values = new Map();
    byProperty.set(property, values);
  }
  return values;
}

const metadataApi = {
  defineMetadata(key: unknown, value: unknown, target: Target, property?: Key): void {
    own(target, property, true)!.set(key, value);
  },
  getOwnMetadata(key: unknown, target: Target, property?: Key): unknown {
    return own(target, property, false)?.get(key);
  },
  hasOwnMetadata(key: unknown, target: Target, property?: Key): boolean {
    return own(target, property, false)?.has(key) ?? false;
  },
  getMetadata(key: unknown, target: Target, property?: Key): unknown {
    // Walks the prototype chain like the proposal's getMetadata.
    for (let t: Target | null = target; t; t = Object.getPrototypeOf(t)) {
      const values = own(t, property, false);
      if (values?.has(key)) return values.get(key);
    }
    return undefined;
  },
  hasMetadata(key: unknown, target: Target, property?: Key): boolean {
    return metadataApi.getMetadata(key, target, property) !== undefined;
  },
  metadata(key: unknown, value: unknown) {
    return (target: Target, property?: Key) => metadataApi.defineMetadata(key, value, target, property);
  },
};

const reflect = Reflect as unknown as Record<string, unknown>;
if (typeof reflect.getMetadata !== "function") {
  for (const [name, fn] of Object.entries(metadataApi)) reflect[name] = fn;
}
