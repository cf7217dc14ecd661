//! Typed payloads: Python values (dicts, lists, strings, numbers, booleans,
//! `None`) to and from the `serde_json::Value` the crate's `Json` and
//! `MsgPack` wrappers encode, and its `decode` reads, so both encodings
//! travel declared in the frame as they do from Rust.

use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyDict, PyFloat, PyInt, PyList, PyString, PyTuple};
use serde_json::{Map, Number, Value};
use socketengine::{Encoding, decode};

use crate::errors::to_py;

/// Nesting deeper than this is refused, as the crate's decoder refuses it.
const MAX_DEPTH: usize = 128;

/// `obj` as a JSON value: `dict` (with `str` keys), `list`, `tuple`, `str`,
/// `int`, `float`, `bool` and `None`.
///
/// # Errors
///
/// `TypeError` for anything else (a `bytes`, a numpy scalar, a `set`);
/// `ValueError` for nesting over 128 deep (a cycle) or an `int` beyond 64
/// bits.
pub(crate) fn to_value(obj: &Bound<'_, PyAny>) -> PyResult<Value> {
    to_value_at(obj, 0)
}

fn to_value_at(obj: &Bound<'_, PyAny>, depth: usize) -> PyResult<Value> {
    if depth > MAX_DEPTH {
        return Err(PyValueError::new_err(
            "nested more than 128 deep (a cycle?)",
        ));
    }
    if obj.is_none() {
        return Ok(Value::Null);
    }
    if let Ok(b) = obj.cast::<PyBool>() {
        return Ok(Value::Bool(b.is_true()));
    }
    if let Ok(i) = obj.cast::<PyInt>() {
        return int(i);
    }
    if let Ok(f) = obj.cast::<PyFloat>() {
        let n = Number::from_f64(f.value());
        return n
            .map(Value::Number)
            .ok_or_else(|| PyValueError::new_err("NaN and infinities are not JSON"));
    }
    if let Ok(s) = obj.cast::<PyString>() {
        return Ok(Value::String(s.to_str()?.to_owned()));
    }
    if let Ok(d) = obj.cast::<PyDict>() {
        let mut map = Map::with_capacity(d.len());
        for (k, v) in d.iter() {
            let key = k
                .cast::<PyString>()
                .map_err(|_| PyTypeError::new_err("dict keys must be str"))?;
            map.insert(key.to_str()?.to_owned(), to_value_at(&v, depth + 1)?);
        }
        return Ok(Value::Object(map));
    }
    if obj.is_instance_of::<PyList>() || obj.is_instance_of::<PyTuple>() {
        let items = obj.try_iter()?.map(|item| to_value_at(&item?, depth + 1));
        return items.collect::<PyResult<_>>().map(Value::Array);
    }
    let kind = obj.get_type().name()?;
    Err(PyTypeError::new_err(format!(
        "a typed payload is made of dict, list, tuple, str, int, float, bool and None, not {kind}"
    )))
}

fn int(i: &Bound<'_, PyInt>) -> PyResult<Value> {
    if let Ok(n) = i.extract::<i64>() {
        return Ok(Value::from(n));
    }
    i.extract::<u64>().map(Value::from).map_err(|_| {
        PyValueError::new_err("an int beyond 64 bits has no JSON or MessagePack form here")
    })
}

/// `value` as Python objects.
pub(crate) fn to_py_value<'py>(py: Python<'py>, value: &Value) -> PyResult<Bound<'py, PyAny>> {
    Ok(match value {
        Value::Null => py.None().into_bound(py),
        Value::Bool(b) => PyBool::new(py, *b).to_owned().into_any(),
        Value::Number(n) => number(py, n)?,
        Value::String(s) => PyString::new(py, s).into_any(),
        Value::Array(items) => {
            let items = items
                .iter()
                .map(|v| to_py_value(py, v))
                .collect::<PyResult<Vec<_>>>()?;
            PyList::new(py, items)?.into_any()
        }
        Value::Object(map) => {
            let dict = PyDict::new(py);
            for (k, v) in map {
                dict.set_item(k, to_py_value(py, v)?)?;
            }
            dict.into_any()
        }
    })
}

fn number<'py>(py: Python<'py>, n: &Number) -> PyResult<Bound<'py, PyAny>> {
    if let Some(i) = n.as_i64() {
        return Ok(i.into_pyobject(py)?.into_any());
    }
    if let Some(u) = n.as_u64() {
        return Ok(u.into_pyobject(py)?.into_any());
    }
    Ok(n.as_f64().unwrap_or(f64::NAN).into_pyobject(py)?.into_any())
}

/// Reads `bytes`, received on `channel` declaring `encoding`, as Python
/// values (bytes that declared nothing are read as JSON, as the crate's
/// `decode` reads them).
///
/// # Errors
///
/// `DecodeError` (the crate's `Decode`) with the channel and the decoder's
/// words.
pub(crate) fn decode_py<'py>(
    py: Python<'py>,
    encoding: Encoding,
    bytes: &[u8],
    channel: &str,
) -> PyResult<Bound<'py, PyAny>> {
    let value: Value = decode(encoding, bytes, channel).map_err(to_py)?;
    to_py_value(py, &value)
}
