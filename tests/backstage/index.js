// The real Backstage catalog backend, alone: what idp-tui's tests talk to.
const { createBackend } = require('@backstage/backend-defaults');
const backend = createBackend();
backend.add(require('@backstage/plugin-catalog-backend'));
backend.start();
