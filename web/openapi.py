"""The OpenAPI 3 document at ``/api/openapi.json``, built with apispec from the same
marshmallow schemas the API loads and dumps with, so it cannot drift from the code."""

from __future__ import annotations

import re
from typing import Any

from apispec import APISpec
from apispec.ext.marshmallow import MarshmallowPlugin
from flask import Blueprint, current_app, jsonify

import core
from web import schemas as s
from web.inputs import INT_MAX

bp = Blueprint("openapi", __name__)

_RULE_ARG = re.compile(r"<(?:[a-z]+:)?([a-z_]+)>")


def schema_name(schema: Any) -> str:
    """``SessionInSchema`` → ``SessionIn``; a plugin's schema is prefixed with its plugin
    (``issues.MemberBrief``) so two plugins never collide."""
    cls = schema if isinstance(schema, type) else type(schema)
    name = cls.__name__.removesuffix("Schema")
    module = cls.__module__
    if module.startswith("plugins."):
        name = f"{module.split('.')[1]}.{name}"
    elif not module.startswith(("web.", "core.")):
        name = f"{module.split('.')[0]}.{name}"
    return name


#: an id in a URL: what the ``<int:…>`` converter accepts (web.inputs.IdConverter)
ID_SCHEMA = {"type": "integer", "format": "int32", "minimum": 1, "maximum": INT_MAX}


def build_spec() -> dict[str, Any]:
    from web.api import API_DOCS

    spec = APISpec(title="Courtyard API", version=core.__version__, openapi_version="3.0.3",
                   plugins=[MarshmallowPlugin(schema_name_resolver=schema_name)],
                   info={"description": "Consultation sessions, categories and members of resident councils."})
    spec.components.schema("Error", schema=s.ErrorEnvelope)
    paths: dict[str, dict[str, Any]] = {}
    for rule in current_app.url_map.iter_rules():
        docs = API_DOCS.get(rule.endpoint) or getattr(current_app.view_functions.get(rule.endpoint), "_api_doc", None)
        if docs is None:
            continue
        path = _RULE_ARG.sub(r"{\1}", rule.rule)
        params = [{"in": "path", "name": name, "required": True,
                   "schema": ID_SCHEMA if name.endswith("_id") else {"type": "string"}}
                  for name in _RULE_ARG.findall(rule.rule)]
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            op: dict[str, Any] = {"summary": docs["summary"], "parameters": list(params), "responses": {}}
            if docs["query"] is not None:
                op["parameters"].append({"in": "query", "schema": docs["query"]})
            if docs["body"] is not None:
                op["requestBody"] = {"required": True, "content": {"application/json": {"schema": docs["body"]}}}
            ok: dict[str, Any] = {"description": "OK"}
            if docs["response"] is not None:
                schema: Any = docs["response"]
                if docs["many"]:
                    schema = {"type": "array", "items": docs["response"]}
                ok["content"] = {"application/json": {"schema": schema}}
            op["responses"][str(docs["status"])] = ok
            for code, text in (("400", "Invalid input; `fields` names each field at fault"),
                               ("401", "Not signed in"), ("403", "Not allowed"), ("404", "Not found"),
                               ("409", "Conflict")):
                op["responses"][code] = {"description": text,
                                         "content": {"application/json": {"schema": "Error"}}}
            paths.setdefault(path, {})[method.lower()] = op
    for path, operations in sorted(paths.items()):
        spec.path(path=path, operations=operations)
    return spec.to_dict()


@bp.get("/api/openapi.json")
def openapi_json():
    """Built once per app (about 60 ms of CPU) and then served as it is: anyone may ask
    for it, so a stranger asking in a loop must not cost a build each time."""
    body = current_app.extensions.get("courtyard_openapi")
    if body is None:
        body = current_app.extensions["courtyard_openapi"] = jsonify(build_spec()).get_data()
    return current_app.response_class(body, mimetype="application/json")
