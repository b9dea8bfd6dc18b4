package sqlstore

import (
	"context"

	"github.com/google/uuid"

	"prefectgo.dev/prefectgo/server/schema"
)

const variableColumns = `variable.id, variable.created, variable.updated, variable.name, variable.value, variable.tags`

func scanVariable(row scanner) (schema.Variable, error) {
	var v schema.Variable
	err := row.Scan(&v.ID, ts(&v.Created), ts(&v.Updated), &v.Name, jsonCol{&v.Value}, jsonInto{&v.Tags})
	v.Tags = nonNil(v.Tags)
	return v, classify(err)
}

// CreateVariable inserts a variable; a taken name is a conflict.
func (s *Store) CreateVariable(ctx context.Context, in schema.VariableCreate) (schema.Variable, error) {
	now := s.clock()
	v := schema.Variable{ID: uuid.Must(uuid.NewV7()), Created: now, Updated: now, Name: *in.Name, Value: in.Value, Tags: nonNil(in.Tags)}
	err := s.tx(ctx, func(ctx context.Context, c conn) error {
		_, err := c.exec(ctx, `INSERT INTO variable (id, created, updated, name, value, tags) VALUES (?, ?, ?, ?, ?, ?)`,
			v.ID, now, now, v.Name, v.Value, mustJSON(v.Tags))
		return err
	})
	return v, err
}

// ReadVariable returns one variable.
func (s *Store) ReadVariable(ctx context.Context, id uuid.UUID) (schema.Variable, error) {
	return s.readVariable(ctx, `variable.id = ?`, id)
}

// ReadVariableByName returns the variable with that name.
func (s *Store) ReadVariableByName(ctx context.Context, name string) (schema.Variable, error) {
	return s.readVariable(ctx, `variable.name = ?`, name)
}

func (s *Store) readVariable(ctx context.Context, cond string, arg any) (schema.Variable, error) {
	var v schema.Variable
	err := s.read(ctx, func(ctx context.Context, c conn) (err error) {
		v, err = scanVariable(c.queryRow(ctx, `SELECT `+variableColumns+` FROM variable WHERE `+cond, arg))
		return err
	})
	return v, err
}

var variableSorts = map[string]string{
	"":             "variable.name ASC",
	"NAME_ASC":     "variable.name ASC",
	"NAME_DESC":    "variable.name DESC",
	"CREATED_DESC": "variable.created DESC",
	"UPDATED_DESC": "variable.updated DESC",
}

func (s *Store) variableWhere(q schema.VariableQuery) *where {
	w := newWhere(s.d)
	if f := q.Variables; f != nil {
		w.nested(f.Operator, func(in *where) {
			in.ids("variable.id", f.ID)
			in.text("variable.name", f.Name)
			in.tags("variable.tags", f.Tags)
		})
	}
	return w
}

// FilterVariables returns the variables matching q.
func (s *Store) FilterVariables(ctx context.Context, q schema.VariableQuery) ([]schema.Variable, error) {
	order, err := sortClause(variableSorts, q.Sort)
	if err != nil {
		return nil, err
	}
	w := s.variableWhere(q)
	var out []schema.Variable
	err = s.read(ctx, func(ctx context.Context, c conn) error {
		var err error
		out, err = queryAll(ctx, c, scanVariable, `SELECT `+variableColumns+` FROM variable WHERE `+w.sql()+` ORDER BY `+order+`, variable.id`+s.page(q.Page), w.args...)
		return err
	})
	return nonNil(out), err
}

// CountVariables counts the variables matching q.
func (s *Store) CountVariables(ctx context.Context, q schema.VariableQuery) (int, error) {
	w := s.variableWhere(q)
	return s.count(ctx, `SELECT count(*) FROM variable WHERE `+w.sql(), w.args)
}

// UpdateVariable changes the fields u sets.
func (s *Store) UpdateVariable(ctx context.Context, id uuid.UUID, u schema.VariableUpdate) error {
	return s.updateVariable(ctx, `id = ?`, id, u)
}

// UpdateVariableByName changes the fields u sets on the variable named name.
func (s *Store) UpdateVariableByName(ctx context.Context, name string, u schema.VariableUpdate) error {
	return s.updateVariable(ctx, `name = ?`, name, u)
}

func (s *Store) updateVariable(ctx context.Context, cond string, arg any, u schema.VariableUpdate) error {
	var up update
	up.set("updated", s.clock())
	if u.Name != nil {
		up.set("name", *u.Name)
	}
	if len(u.Value) > 0 {
		up.set("value", u.Value)
	}
	if u.Tags != nil {
		up.set("tags", mustJSON(nonNil(*u.Tags)))
	}
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(up.exec(ctx, c, "variable", cond, arg))
	})
}

// DeleteVariable deletes one variable.
func (s *Store) DeleteVariable(ctx context.Context, id uuid.UUID) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM variable WHERE id = ?`, id))
	})
}

// DeleteVariableByName deletes the variable named name.
func (s *Store) DeleteVariableByName(ctx context.Context, name string) error {
	return s.tx(ctx, func(ctx context.Context, c conn) error {
		return mustDelete(c.exec(ctx, `DELETE FROM variable WHERE name = ?`, name))
	})
}
