// Renders /api/openapi.json: every operation with its parameters, body and
// responses, then every schema. Text only through textContent.
(async () => {
  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag);
    Object.entries(attrs).forEach(([k, v]) => { if (k === 'text') node.textContent = v; else node.setAttribute(k, v); });
    node.append(...children);
    return node;
  };
  const refName = (schema) => {
    if (!schema) return '';
    if (schema.$ref) return schema.$ref.split('/').pop();
    if (schema.type === 'array' && schema.items) return `${refName(schema.items)}[]`;
    if (schema.oneOf) return schema.oneOf.map(refName).filter(Boolean).join(' | ');
    return Array.isArray(schema.type) ? schema.type.join(' | ') : (schema.type || '');
  };
  const schemaLink = (schema) => {
    const name = refName(schema);
    return schema && schema.$ref ? el('a', { href: `#schema-${name}`, text: name }) : el('code', { text: name });
  };
  const bodySchema = (content) => {
    if (!content) return null;
    const [type, media] = Object.entries(content)[0];
    return { type, schema: media.schema };
  };

  const spec = await (await fetch('/api/openapi.json')).json();
  document.getElementById('api-intro').textContent = spec.info.description || '';
  const operations = document.getElementById('api-operations');
  const toc = document.getElementById('api-toc');
  Object.entries(spec.paths).forEach(([path, methods]) => {
    Object.entries(methods).forEach(([method, op]) => {
      const id = `${method}-${path}`.replace(/[^a-z0-9]+/gi, '-');
      toc.append(el('a', { href: `#${id}`, class: `method ${method}`, text: `${method.toUpperCase()} ${path}` }));
      const card = el('article', { class: 'panel operation', id });
      card.append(el('h3', {}, el('span', { class: `method ${method}`, text: method.toUpperCase() }), ' ', el('code', { text: path })));
      if (op.summary || op.description) card.append(el('p', { text: [op.summary, op.description].filter(Boolean).join(' ') }));
      if (op.parameters && op.parameters.length) {
        const rows = op.parameters.map((p) => el('tr', {}, el('td', {}, el('code', { text: p.name })), el('td', { text: p.in }),
          el('td', { text: refName(p.schema) }), el('td', { text: p.required ? 'required' : '' }), el('td', { text: p.description || '' })));
        card.append(el('h4', { text: 'Parameters' }), el('table', { class: 'api' }, ...rows));
      }
      const body = op.requestBody && bodySchema(op.requestBody.content);
      if (body) card.append(el('h4', { text: 'Body' }), el('p', {}, el('code', { text: body.type }), ' ', schemaLink(body.schema)));
      const responses = Object.entries(op.responses || {}).map(([status, r]) => {
        const b = bodySchema(r.content);
        return el('tr', {}, el('td', { text: status }), el('td', { text: r.description || '' }), el('td', {}, b ? schemaLink(b.schema) : ''));
      });
      card.append(el('h4', { text: 'Responses' }), el('table', { class: 'api' }, ...responses));
      operations.append(card);
    });
  });
  const schemas = document.getElementById('api-schemas');
  Object.entries(spec.components.schemas).forEach(([name, schema]) => {
    const required = new Set(schema.required || []);
    const rows = Object.entries(schema.properties || {}).map(([field, s]) => el('tr', {},
      el('td', {}, el('code', { text: field })), el('td', {}, schemaLink(s)), el('td', { text: required.has(field) ? 'required' : '' }),
      el('td', { text: s.description || '' })));
    schemas.append(el('article', { class: 'panel operation', id: `schema-${name}` },
      el('h3', { text: name }), schema.description ? el('p', { text: schema.description }) : '', el('table', { class: 'api' }, ...rows)));
  });
})();
